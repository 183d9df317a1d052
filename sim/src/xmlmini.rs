//! Just enough XML reading to check what our server answers (flat `<xml>` documents).

/// The text of the first `<tag>…</tag>`, CDATA unwrapped and the five entities decoded.
pub(crate) fn field(xml: &str, tag: &str) -> Option<String> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let start = xml.find(&open)? + open.len();
    let end = start + xml.get(start..)?.find(&close)?;
    let inner = xml.get(start..end)?.trim();
    if let Some(rest) = inner.strip_prefix("<![CDATA[") {
        return rest.strip_suffix("]]>").map(str::to_owned);
    }
    Some(
        inner
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&quot;", "\"")
            .replace("&apos;", "'")
            .replace("&amp;", "&"),
    )
}

/// `<![CDATA[…]]>` for any text (a `]]>` inside is split across two sections).
pub(crate) fn cdata(text: &str) -> String {
    format!("<![CDATA[{}]]>", text.replace("]]>", "]]]]><![CDATA[>"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_cdata_and_plain_fields() {
        let xml = "<xml><A><![CDATA[x<y]]></A><B> 12 </B><C>a&amp;b</C></xml>";
        assert_eq!(field(xml, "A").as_deref(), Some("x<y"));
        assert_eq!(field(xml, "B").as_deref(), Some("12"));
        assert_eq!(field(xml, "C").as_deref(), Some("a&b"));
        assert_eq!(field(xml, "D"), None);
    }

    #[test]
    fn cdata_survives_its_own_terminator() {
        let wrapped = format!("<xml><A>{}</A></xml>", cdata("a]]>b"));
        assert!(wrapped.contains("]]]]><![CDATA[>"));
    }
}
