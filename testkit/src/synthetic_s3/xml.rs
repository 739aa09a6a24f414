//! The little XML S3 speaks: a writer for results and errors, and a reader for the
//! flat request documents (CompleteMultipartUpload, Tagging).

use bytes::Bytes;

/// The namespace S3 puts on its result documents.
pub const S3_NAMESPACE: &str = "http://s3.amazonaws.com/doc/2006-03-01/";

/// Writes one XML document, closing whatever is open on `finish`.
#[derive(Debug)]
pub struct XmlWriter {
    out: String,
    open: Vec<&'static str>,
}

impl XmlWriter {
    /// Starts a document whose root is `root`, in S3's namespace if `namespaced`.
    pub fn new(root: &'static str, namespaced: bool) -> XmlWriter {
        let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<");
        out.push_str(root);
        if namespaced {
            out.push_str(" xmlns=\"");
            out.push_str(S3_NAMESPACE);
            out.push('"');
        }
        out.push('>');
        XmlWriter {
            out,
            open: vec![root],
        }
    }

    /// Writes `<name>text</name>`, escaping `text`.
    pub fn element(&mut self, name: &str, text: &str) -> &mut XmlWriter {
        self.out.push('<');
        self.out.push_str(name);
        self.out.push('>');
        self.out.push_str(&escape(text));
        self.out.push_str("</");
        self.out.push_str(name);
        self.out.push('>');
        self
    }

    /// Opens `<name>`.
    pub fn open(&mut self, name: &'static str) -> &mut XmlWriter {
        self.out.push('<');
        self.out.push_str(name);
        self.out.push('>');
        self.open.push(name);
        self
    }

    /// Closes the innermost open element.
    pub fn close(&mut self) -> &mut XmlWriter {
        if let Some(name) = self.open.pop() {
            self.out.push_str("</");
            self.out.push_str(name);
            self.out.push('>');
        }
        self
    }

    /// The document, with every open element closed.
    pub fn finish(mut self) -> Bytes {
        while !self.open.is_empty() {
            self.close();
        }
        Bytes::from(self.out)
    }
}

/// `text` with XML's special characters escaped.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// `text` with entity and character references resolved (unknown ones kept as is).
pub fn unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        let Some(end) = rest.find(';') else { break };
        let entity = &rest[1..end];
        let decoded = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ => entity
                .strip_prefix("#x")
                .map(|hex| u32::from_str_radix(hex, 16))
                .or_else(|| entity.strip_prefix('#').map(str::parse::<u32>))
                .and_then(Result::ok)
                .and_then(char::from_u32),
        };
        match decoded {
            Some(c) => {
                out.push(c);
                rest = &rest[end + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// The raw contents of each `<name …>…</name>` (or empty `<name/>`) in `doc`, in order.
/// Elements of one name must not nest, which holds for S3's request documents.
pub fn children<'a>(doc: &'a str, name: &str) -> Vec<&'a str> {
    let open = format!("<{name}");
    let close = format!("</{name}>");
    let mut found = Vec::new();
    let mut rest = doc;
    while let Some(at) = rest.find(&open) {
        let after = &rest[at + open.len()..];
        let Some(next) = after.chars().next() else {
            break;
        };
        if !(next == '>' || next == '/' || next.is_whitespace()) {
            rest = after;
            continue;
        }
        let Some(tag_end) = after.find('>') else {
            break;
        };
        if after[..tag_end].ends_with('/') {
            found.push("");
            rest = &after[tag_end + 1..];
            continue;
        }
        let body = &after[tag_end + 1..];
        let Some(end) = body.find(&close) else { break };
        found.push(&body[..end]);
        rest = &body[end + close.len()..];
    }
    found
}

/// The unescaped, trimmed text of the first `<name>` in `doc`.
pub fn child_text(doc: &str, name: &str) -> Option<String> {
    children(doc, name)
        .first()
        .map(|text| unescape(text.trim()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_flat_documents() {
        let doc = r#"<?xml version="1.0"?><Tagging xmlns="x"><TagSet><Tag><Key>a&amp;b</Key><Value/></Tag><Tag><Key>c</Key><Value>&quot;d&#x41;&#66;</Value></Tag></TagSet></Tagging>"#;
        let tags = children(doc, "Tag");
        assert_eq!(tags.len(), 2);
        assert_eq!(child_text(tags[0], "Key").as_deref(), Some("a&b"));
        assert_eq!(child_text(tags[0], "Value").as_deref(), Some(""));
        assert_eq!(child_text(tags[1], "Value").as_deref(), Some("\"dAB"));
        assert_eq!(children(doc, "TagSet").len(), 1);
    }

    #[test]
    fn writes_escaped_nested_documents() {
        let mut xml = XmlWriter::new("Result", true);
        xml.open("Part")
            .element("ETag", "\"x\"")
            .close()
            .element("Key", "a<b");
        let text = String::from_utf8(xml.finish().to_vec()).unwrap();
        assert!(text.ends_with(
            "<Result xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Part><ETag>&quot;x&quot;</ETag></Part><Key>a&lt;b</Key></Result>"
        ));
    }
}
