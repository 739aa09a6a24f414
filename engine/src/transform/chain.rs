//! Transforms in sequence (`TRANSFORM=gunzip,gzip`): each stage's output is the next one's input.

use super::{Transform, TransformError};
use bytes::Bytes;

/// Runs its stages in order on every chunk.
pub struct Chain {
    stages: Vec<Box<dyn Transform>>,
    /// Once finishing: the next stage to finish (the ones before it are
    /// finished; a stage is finished only when none up to it holds output).
    finishing: Option<usize>,
}

impl Chain {
    /// A chain of `stages`, first to last.
    pub fn new(stages: Vec<Box<dyn Transform>>) -> Chain {
        Chain {
            stages,
            finishing: None,
        }
    }

    /// Finishes the stages in order, each once nothing before or in it is
    /// held back, feeding what each flushes through the stages after it.
    fn advance(&mut self, output: &mut Vec<Bytes>) -> Result<(), TransformError> {
        while let Some(index) = self.finishing {
            if index == self.stages.len()
                || self.stages[..=index]
                    .iter()
                    .any(|stage| stage.has_pending())
            {
                return Ok(());
            }
            let mut flushed = Vec::new();
            self.stages[index].finish(&mut flushed)?;
            self.run(index + 1, flushed, output)?;
            self.finishing = Some(index + 1);
        }
        Ok(())
    }

    /// Feeds `input` through the stages from `first` on, cutting each
    /// stage's input to its [`Transform::max_push`].
    fn run(
        &mut self,
        first: usize,
        input: Vec<Bytes>,
        output: &mut Vec<Bytes>,
    ) -> Result<(), TransformError> {
        let mut chunks = input;
        for stage in &mut self.stages[first..] {
            let mut next = Vec::new();
            for chunk in chunks {
                match stage.max_push() {
                    Some(max) if chunk.len() > max => {
                        let mut rest = chunk;
                        while !rest.is_empty() {
                            let piece = rest.split_to(max.min(rest.len()));
                            stage.push(piece, &mut next)?;
                        }
                    }
                    _ => stage.push(chunk, &mut next)?,
                }
            }
            chunks = next;
        }
        output.extend(chunks);
        Ok(())
    }
}

impl Transform for Chain {
    fn name(&self) -> &'static str {
        "chain"
    }

    fn push(&mut self, input: Bytes, output: &mut Vec<Bytes>) -> Result<(), TransformError> {
        self.run(0, vec![input], output)
    }

    fn finish(&mut self, output: &mut Vec<Bytes>) -> Result<(), TransformError> {
        self.finishing = Some(0);
        self.advance(output)
    }

    fn has_pending(&self) -> bool {
        self.stages.iter().any(|stage| stage.has_pending())
            || self
                .finishing
                .is_some_and(|index| index < self.stages.len())
    }

    fn drain(&mut self, output: &mut Vec<Bytes>) -> Result<(), TransformError> {
        if let Some(index) = self.stages.iter().position(|stage| stage.has_pending()) {
            let mut drained = Vec::new();
            self.stages[index].drain(&mut drained)?;
            self.run(index + 1, drained, output)?;
        }
        self.advance(output)
    }

    fn preserves_length(&self) -> bool {
        self.stages.iter().all(|stage| stage.preserves_length())
    }

    fn is_identity(&self) -> bool {
        self.stages.iter().all(|stage| stage.is_identity())
    }

    fn content_type(&self) -> Option<&str> {
        self.stages
            .iter()
            .rev()
            .find_map(|stage| stage.content_type())
    }

    fn content_type_for(&self, destination_key: &str) -> Option<String> {
        self.stages
            .iter()
            .rev()
            .find_map(|stage| stage.content_type_for(destination_key))
    }

    fn content_encoding(&self) -> Option<&str> {
        self.stages
            .iter()
            .rev()
            .find_map(|stage| stage.content_encoding())
    }

    fn destination_key(&self, key: &str) -> String {
        self.stages
            .iter()
            .fold(key.to_owned(), |key, stage| stage.destination_key(&key))
    }

    fn is_output_key(&self, key: &str) -> bool {
        self.stages
            .last()
            .is_some_and(|stage| stage.is_output_key(key))
    }

    fn max_push(&self) -> Option<usize> {
        self.stages.first().and_then(|stage| stage.max_push())
    }

    fn window(&self) -> u64 {
        self.stages.iter().map(|stage| stage.window()).sum()
    }

    fn is_cpu_heavy(&self) -> bool {
        self.stages.iter().any(|stage| stage.is_cpu_heavy())
    }
}
