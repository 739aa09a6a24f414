//! The identity transform: every chunk passes through untouched, without a copy.

use super::{Transform, TransformError};
use bytes::Bytes;

/// Passes bytes through unchanged: the drop-in replacement for the Go copier.
#[derive(Debug, Clone, Copy, Default)]
pub struct Identity;

impl Transform for Identity {
    fn name(&self) -> &'static str {
        "identity"
    }

    fn push(&mut self, input: Bytes, output: &mut Vec<Bytes>) -> Result<(), TransformError> {
        if !input.is_empty() {
            output.push(input);
        }
        Ok(())
    }

    fn finish(&mut self, _output: &mut Vec<Bytes>) -> Result<(), TransformError> {
        Ok(())
    }

    fn preserves_length(&self) -> bool {
        true
    }

    fn is_identity(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passes_the_same_allocation_through() {
        let input = Bytes::from(vec![7u8; 1024]);
        let pointer = input.as_ptr();
        let mut output = Vec::new();
        Identity.push(input, &mut output).unwrap();
        Identity.finish(&mut output).unwrap();
        assert_eq!(output.len(), 1);
        assert_eq!(output[0].as_ptr(), pointer, "identity must not copy");
    }
}
