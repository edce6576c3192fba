//! A minimal XML element tree and writer for the CIB: elements, attributes in the given order,
//! comments, two-space indentation, escaping. Only what the CIB needs.

use std::fmt::Write;

/// An XML node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    Element(Element),
    Comment(String),
}

/// An element with ordered attributes and children.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Element {
    pub name: String,
    pub attrs: Vec<(String, String)>,
    pub children: Vec<Node>,
}

impl Element {
    /// A new element without attributes or children.
    pub fn new(name: &str) -> Self {
        Element {
            name: name.to_string(),
            attrs: Vec::new(),
            children: Vec::new(),
        }
    }

    /// Adds an attribute (builder style).
    pub fn attr(mut self, name: &str, value: impl Into<String>) -> Self {
        self.attrs.push((name.to_string(), value.into()));
        self
    }

    /// Adds a child element (builder style).
    pub fn child(mut self, child: Element) -> Self {
        self.children.push(Node::Element(child));
        self
    }

    /// Adds child elements (builder style).
    pub fn children(mut self, children: impl IntoIterator<Item = Element>) -> Self {
        self.children
            .extend(children.into_iter().map(Node::Element));
        self
    }

    /// Adds a comment (builder style). `--` is replaced, as XML forbids it in comments.
    pub fn comment(mut self, text: &str) -> Self {
        self.children.push(Node::Comment(text.replace("--", "- -")));
        self
    }

    /// The same tree without comments (for `cibadmin --modify` payloads).
    pub fn without_comments(&self) -> Element {
        Element {
            name: self.name.clone(),
            attrs: self.attrs.clone(),
            children: self
                .children
                .iter()
                .filter_map(|c| match c {
                    Node::Element(e) => Some(Node::Element(e.without_comments())),
                    Node::Comment(_) => None,
                })
                .collect(),
        }
    }

    /// Serialises with two-space indentation, ending in a newline.
    pub fn to_xml(&self) -> String {
        let mut out = String::new();
        self.write(&mut out, 0);
        out
    }

    fn write(&self, out: &mut String, depth: usize) {
        let indent = "  ".repeat(depth);
        let _ = write!(out, "{indent}<{}", self.name);
        for (k, v) in &self.attrs {
            let _ = write!(out, " {k}=\"{}\"", escape(v));
        }
        if self.children.is_empty() {
            out.push_str("/>\n");
            return;
        }
        out.push_str(">\n");
        for child in &self.children {
            match child {
                Node::Element(e) => e.write(out, depth + 1),
                Node::Comment(c) => {
                    let _ = writeln!(out, "{indent}  <!-- {c} -->");
                }
            }
        }
        let _ = writeln!(out, "{indent}</{}>", self.name);
    }
}

/// Escapes text for an attribute value.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_nested_elements_with_escaping() {
        let e = Element::new("a")
            .attr("x", "1 < 2 & \"q\"")
            .comment("why -- not")
            .child(Element::new("b").attr("y", "z"));
        assert_eq!(
            e.to_xml(),
            "<a x=\"1 &lt; 2 &amp; &quot;q&quot;\">\n  <!-- why - - not -->\n  <b y=\"z\"/>\n</a>\n"
        );
    }
}
