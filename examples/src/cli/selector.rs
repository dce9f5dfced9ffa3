//! A small parser for series selectors (`metric{label="v", other=~"re.*"}`), enough for the
//! `--match` flags of the `tsdb` commands until the full PromQL parser is available to them.
//!
//! Accepts an optional metric name (bare or none), then an optional brace block of matchers
//! with `=`, `!=`, `=~`, `!~`; label names bare or double-quoted; a quoted name alone in the
//! braces is the metric name; values in `"..."` or `'...'` (Go escapes) or backticks (raw).

use tsdb_index::{MatchType, Matcher};

/// A selector syntax error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid selector {input:?} at byte {pos}: {message}")]
pub struct SelectorError {
    /// The selector text.
    pub input: String,
    /// Byte offset of the problem.
    pub pos: usize,
    /// What was wrong.
    pub message: String,
}

struct Cursor<'a> {
    s: &'a str,
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn err(&self, m: impl Into<String>) -> SelectorError {
        SelectorError {
            input: self.s.to_string(),
            pos: self.pos,
            message: m.into(),
        }
    }
    fn rest(&self) -> &'a str {
        &self.s[self.pos..]
    }
    fn skip_ws(&mut self) {
        let r = self.rest();
        self.pos += r.len() - r.trim_start().len();
    }
    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }
    fn eat(&mut self, t: &str) -> bool {
        if self.rest().starts_with(t) {
            self.pos += t.len();
            true
        } else {
            false
        }
    }
    fn ident(&mut self, colon: bool) -> Option<&'a str> {
        let r = self.rest();
        let n = r
            .char_indices()
            .take_while(|&(i, c)| {
                c == '_'
                    || c.is_ascii_alphabetic()
                    || (colon && c == ':')
                    || (i > 0 && c.is_ascii_digit())
            })
            .count();
        if n == 0 {
            return None;
        }
        self.pos += n;
        Some(&r[..n])
    }
    fn string(&mut self) -> Result<String, SelectorError> {
        let q = self.peek().ok_or_else(|| self.err("expected string"))?;
        if !matches!(q, '"' | '\'' | '`') {
            return Err(self.err("expected quoted string"));
        }
        self.pos += 1;
        let mut out = String::new();
        let mut chars = self.rest().char_indices();
        while let Some((i, c)) = chars.next() {
            if c == q {
                self.pos += i + 1;
                return Ok(out);
            }
            if c == '\\' && q != '`' {
                let (_, e) = chars
                    .next()
                    .ok_or_else(|| self.err("unterminated escape"))?;
                match e {
                    'n' => out.push('\n'),
                    't' => out.push('\t'),
                    'r' => out.push('\r'),
                    'a' => out.push('\u{7}'),
                    'b' => out.push('\u{8}'),
                    'f' => out.push('\u{c}'),
                    'v' => out.push('\u{b}'),
                    '\\' | '"' | '\'' => out.push(e),
                    'x' | 'u' | 'U' => {
                        let n = match e {
                            'x' => 2,
                            'u' => 4,
                            _ => 8,
                        };
                        let mut v = 0u32;
                        for _ in 0..n {
                            let (_, h) = chars.next().ok_or_else(|| self.err("short escape"))?;
                            v = v * 16
                                + h.to_digit(16).ok_or_else(|| self.err("bad hex escape"))?;
                        }
                        out.push(char::from_u32(v).ok_or_else(|| self.err("bad code point"))?);
                    }
                    _ => return Err(self.err(format!("unknown escape sequence \\{e}"))),
                }
                continue;
            }
            if c == '\n' && q != '`' {
                return Err(self.err("newline in string"));
            }
            out.push(c);
        }
        Err(self.err("unterminated string"))
    }
}

/// Parses one selector into matchers (the metric name becomes a `__name__` `=` matcher).
///
/// ```
/// use tsdb_examples::cli::selector::parse_selector;
/// let m = parse_selector(r#"up{job=~"a.*", x!="y"}"#).unwrap();
/// assert_eq!(m.len(), 3);
/// assert_eq!(m[0].name, "__name__");
/// ```
pub fn parse_selector(s: &str) -> Result<Vec<Matcher>, SelectorError> {
    let mut c = Cursor { s, pos: 0 };
    let mut out = Vec::new();
    c.skip_ws();
    if let Some(name) = c.ident(true) {
        out.push(Matcher::equal("__name__", name));
    }
    c.skip_ws();
    if c.eat("{") {
        loop {
            c.skip_ws();
            if c.eat("}") {
                break;
            }
            let name = if c.peek() == Some('"') {
                let n = c.string()?;
                c.skip_ws();
                if matches!(c.peek(), Some(',') | Some('}')) {
                    out.push(Matcher::equal("__name__", n));
                    c.eat(",");
                    continue;
                }
                n
            } else {
                c.ident(false)
                    .ok_or_else(|| c.err("expected label name"))?
                    .to_string()
            };
            c.skip_ws();
            let kind = if c.eat("=~") {
                MatchType::Regexp
            } else if c.eat("!~") {
                MatchType::NotRegexp
            } else if c.eat("!=") {
                MatchType::NotEqual
            } else if c.eat("=") {
                MatchType::Equal
            } else {
                return Err(c.err("expected one of =, !=, =~, !~"));
            };
            c.skip_ws();
            let value = c.string()?;
            let m = Matcher::new(kind, name, value).map_err(|e| c.err(e.to_string()))?;
            out.push(m);
            c.skip_ws();
            if !c.eat(",") {
                c.skip_ws();
                if !c.eat("}") {
                    return Err(c.err("expected , or }"));
                }
                break;
            }
        }
    }
    c.skip_ws();
    if c.pos != s.len() {
        return Err(c.err("unexpected trailing input"));
    }
    if out.is_empty() {
        return Err(c.err("selector has no matchers"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_forms() {
        let m = parse_selector(r#"{__name__=~'(?s:.*)'}"#).unwrap();
        assert_eq!(m[0].kind, MatchType::Regexp);
        assert!(m[0].matches("anything\n"));
        let m = parse_selector(r#"{"my.metric", "a.b"!~`x\d`, c="q\"\n"}"#).unwrap();
        assert_eq!(m[0], Matcher::equal("__name__", "my.metric"));
        assert_eq!(m[1].value, r"x\d");
        assert_eq!(m[2].value, "q\"\n");
        for bad in [
            "",
            "{",
            "up{a}",
            "up{a=b}",
            "up{a=\"b\"",
            "up x",
            "{a=~\"(\"}",
        ] {
            assert!(parse_selector(bad).is_err(), "{bad:?}");
        }
    }
}
