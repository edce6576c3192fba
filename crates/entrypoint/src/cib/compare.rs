//! Whether the live CIB (`cibadmin -Q -o configuration`) already holds the desired
//! configuration: every desired element must be present (matched by tag and `id`, or by tag
//! alone for id-less sections) with the same attribute values, recursively. Extra live
//! elements and attributes (Pacemaker's own properties, node entries) are fine; comments and
//! whitespace are ignored. This matches what `cibadmin --modify --allow-create` guarantees.

use super::xml::{Element, Node};

/// True when the XML text `live` (rooted at the same element as `desired`) contains `desired`.
pub fn contains(live: &str, desired: &Element) -> bool {
    match roxmltree::Document::parse(live) {
        Ok(doc) => element_contains(doc.root_element(), desired),
        Err(_) => false,
    }
}

fn element_contains(live: roxmltree::Node<'_, '_>, desired: &Element) -> bool {
    if live.tag_name().name() != desired.name {
        return false;
    }
    if !desired
        .attrs
        .iter()
        .all(|(k, v)| live.attribute(k.as_str()) == Some(v.as_str()))
    {
        return false;
    }
    desired.children.iter().all(|child| match child {
        Node::Comment(_) => true,
        Node::Element(d) => {
            let id = d
                .attrs
                .iter()
                .find(|(k, _)| k == "id")
                .map(|(_, v)| v.as_str());
            live.children()
                .filter(|c| c.is_element() && c.tag_name().name() == d.name)
                .filter(|c| id.is_none() || c.attribute("id") == id)
                .any(|c| element_contains(c, d))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn desired() -> Element {
        Element::new("resources")
            .comment("c")
            .child(Element::new("primitive").attr("id", "a").attr("type", "t"))
    }

    #[test]
    fn cases() {
        let cases = [
            (
                "<resources>\n <primitive type=\"t\" id=\"a\"/>\n</resources>",
                true,
            ),
            (
                "<resources><primitive id=\"a\" type=\"t\" extra=\"x\"/><primitive id=\"b\"/></resources>",
                true,
            ),
            ("<resources/>", false),
            (
                "<resources><primitive id=\"a\" type=\"u\"/></resources>",
                false,
            ),
            (
                "<resources><primitive id=\"b\" type=\"t\"/></resources>",
                false,
            ),
            ("<constraints/>", false),
            ("not xml", false),
        ];
        for (live, want) in cases {
            assert_eq!(contains(live, &desired()), want, "{live}");
        }
    }
}
