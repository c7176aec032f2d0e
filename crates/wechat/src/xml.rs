//! A small reader for WeChat's flat XML messages.
//!
//! Hardened for bodies from the internet: a DOCTYPE (the door to entity
//! expansion and external-entity attacks) is refused outright, the size is
//! bounded, only the five predefined entities and character references are
//! resolved, and nested elements are flattened to dotted keys
//! (`ScanCodeInfo.ScanResult`).

use std::collections::BTreeMap;

use quick_xml::Reader;
use quick_xml::events::Event;

use crate::WeChatError;

/// Largest body accepted. WeChat's messages are a few hundred bytes.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Deepest nesting accepted below the root.
const MAX_DEPTH: usize = 4;

fn bad(msg: impl Into<String>) -> WeChatError {
    WeChatError::Xml(msg.into())
}

/// Reads `<xml><A>..</A><B><C>..</C></B></xml>` into `{A: .., B.C: ..}`.
pub fn parse_flat(body: &str) -> Result<BTreeMap<String, String>, WeChatError> {
    if body.len() > MAX_BODY_BYTES {
        return Err(WeChatError::TooLarge(body.len()));
    }
    let mut reader = Reader::from_str(body);
    let mut path: Vec<String> = Vec::new();
    let mut text = String::new();
    let mut had_child: Vec<bool> = Vec::new();
    let mut fields = BTreeMap::new();
    let mut seen_root = false;
    loop {
        match reader.read_event().map_err(|e| bad(e.to_string()))? {
            Event::DocType(_) => return Err(bad("DOCTYPE is not allowed")),
            Event::Start(e) => {
                let name = String::from_utf8_lossy(e.name().as_ref()).into_owned();
                if path.is_empty() {
                    if seen_root || name != "xml" {
                        return Err(bad(format!("root element must be <xml>, found <{name}>")));
                    }
                    seen_root = true;
                } else if path.len() > MAX_DEPTH {
                    return Err(bad("nested too deeply"));
                }
                if let Some(parent) = had_child.last_mut() {
                    *parent = true;
                }
                path.push(name);
                had_child.push(false);
                text.clear();
            }
            Event::Empty(e) => {
                if path.is_empty() {
                    return Err(bad("root element must be <xml>"));
                }
                let name = String::from_utf8_lossy(e.name().as_ref()).into_owned();
                if let Some(parent) = had_child.last_mut() {
                    *parent = true;
                }
                let key = path[1..]
                    .iter()
                    .chain(std::iter::once(&name))
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(".");
                fields.insert(key, String::new());
            }
            Event::Text(t) => text.push_str(&t.decode().map_err(|e| bad(e.to_string()))?),
            Event::CData(c) => text.push_str(&String::from_utf8_lossy(&c.into_inner())),
            Event::GeneralRef(r) => {
                let name = r.decode().map_err(|e| bad(e.to_string()))?;
                text.push_str(&resolve_reference(&name)?);
            }
            Event::End(_) => {
                let leaf = !had_child.pop().unwrap_or(true);
                if path.len() > 1 && leaf {
                    fields.insert(path[1..].join("."), std::mem::take(&mut text));
                }
                path.pop();
                text.clear();
            }
            Event::Eof => break,
            Event::Comment(_) | Event::Decl(_) | Event::PI(_) => {}
        }
    }
    if !seen_root {
        return Err(bad("empty body"));
    }
    if !path.is_empty() {
        return Err(bad("unclosed element"));
    }
    Ok(fields)
}

fn resolve_reference(name: &str) -> Result<String, WeChatError> {
    if let Some(num) = name.strip_prefix('#') {
        let code = match num.strip_prefix(['x', 'X']) {
            Some(hex) => u32::from_str_radix(hex, 16),
            None => num.parse(),
        }
        .map_err(|_| bad(format!("bad character reference &{name};")))?;
        return char::from_u32(code)
            .map(String::from)
            .ok_or_else(|| bad(format!("bad character reference &{name};")));
    }
    quick_xml::escape::resolve_xml_entity(name)
        .map(str::to_string)
        .ok_or_else(|| bad(format!("unknown entity &{name};")))
}

/// Wraps text in CDATA, splitting any `]]>` inside so it cannot close early.
pub fn cdata(text: &str) -> String {
    format!("<![CDATA[{}]]>", text.replace("]]>", "]]]]><![CDATA[>"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flat_and_nested_fields_cdata_and_entities() {
        let f = parse_flat(
            "<xml><ToUserName><![CDATA[gh_1]]></ToUserName>\n <CreateTime>1409735668</CreateTime>\
             <Content><![CDATA[a < b]]>&amp;&#x4E2D;</Content><ScanCodeInfo><ScanType><![CDATA[qrcode]]></ScanType></ScanCodeInfo><Empty/></xml>",
        )
        .expect("parse");
        assert_eq!(f["ToUserName"], "gh_1");
        assert_eq!(f["CreateTime"], "1409735668");
        assert_eq!(f["Content"], "a < b&中");
        assert_eq!(f["ScanCodeInfo.ScanType"], "qrcode");
        assert_eq!(f["Empty"], "");
        assert!(!f.contains_key("ScanCodeInfo"));
    }

    #[test]
    fn hostile_or_broken_bodies_are_refused() {
        for body in [
            "<!DOCTYPE x [<!ENTITY e SYSTEM \"file:///etc/passwd\">]><xml><A>&e;</A></xml>",
            "<html><A>1</A></html>",
            "<xml><A>1</A>",
            "<xml><A>&unknown;</A></xml>",
            "<xml><A>&#xFFFFFFFF;</A></xml>",
            "",
            "not xml at all",
            "<xml><a><b><c><d><e><f>deep</f></e></d></c></b></a></xml>",
            "<xml></xml><xml></xml>",
        ] {
            assert!(parse_flat(body).is_err(), "accepted: {body}");
        }
        let big = format!("<xml><A>{}</A></xml>", "x".repeat(MAX_BODY_BYTES));
        assert!(matches!(parse_flat(&big), Err(WeChatError::TooLarge(_))));
    }

    #[test]
    fn cdata_cannot_be_closed_by_content() {
        let wrapped = cdata("evil]]><x>");
        let f = parse_flat(&format!("<xml><A>{wrapped}</A></xml>")).expect("parse");
        assert_eq!(f["A"], "evil]]><x>");
    }
}
