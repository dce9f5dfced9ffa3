//! Case-insensitive comparison of a value against an ASCII literal, exactly as the regex
//! engine's simple case folding decides it.
//!
//! A case-insensitive literal here is always ASCII. Under Unicode simple case folding an ASCII
//! letter matches its other ASCII case and, for two letters, one non-ASCII character:
//! `k` ~ `K` (U+212A KELVIN SIGN, 3 bytes) and `s` ~ `ſ` (U+017F LATIN SMALL LETTER LONG S,
//! 2 bytes). So the matched part of a value can be longer in bytes than the literal, and the
//! comparisons return how many bytes of the value they consumed.

/// The ASCII letter a non-ASCII character folds to, if any.
#[inline]
pub(crate) fn ascii_fold_of(c: char) -> Option<u8> {
    match c {
        '\u{212A}' => Some(b'k'),
        '\u{17F}' => Some(b's'),
        _ => None,
    }
}

/// If `s` starts with text equal to `lit` under case folding, the byte length of that text.
#[inline]
pub(crate) fn prefix_len(s: &str, lit: &str) -> Option<usize> {
    let sb = s.as_bytes();
    for (i, &l) in lit.as_bytes().iter().enumerate() {
        match sb.get(i) {
            // Fewer bytes means fewer characters: no match.
            None => return None,
            Some(b) if b.eq_ignore_ascii_case(&l) => {}
            // Everything before was ASCII, so an ASCII byte here is a character that differs.
            Some(b) if b.is_ascii() => return None,
            // A non-ASCII character: KELVIN SIGN or long s may stand for `k` or `s`.
            Some(_) => return prefix_len_slow(s, lit),
        }
    }
    Some(lit.len())
}

#[cold]
fn prefix_len_slow(s: &str, lit: &str) -> Option<usize> {
    let sb = s.as_bytes();
    let mut j = 0;
    for &l in lit.as_bytes() {
        let &b = sb.get(j)?;
        if b.is_ascii() {
            if !b.eq_ignore_ascii_case(&l) {
                return None;
            }
            j += 1;
        } else {
            let c = s[j..].chars().next()?;
            if ascii_fold_of(c) != Some(l.to_ascii_lowercase()) {
                return None;
            }
            j += c.len_utf8();
        }
    }
    Some(j)
}

/// If `s` ends with text equal to `lit` under case folding, the byte length of that text.
#[inline]
pub(crate) fn suffix_len(s: &str, lit: &str) -> Option<usize> {
    let sb = s.as_bytes();
    for (i, &l) in lit.as_bytes().iter().rev().enumerate() {
        match sb.len().checked_sub(i + 1).map(|j| sb[j]) {
            None => return None,
            Some(b) if b.eq_ignore_ascii_case(&l) => {}
            Some(b) if b.is_ascii() => return None,
            Some(_) => return suffix_len_slow(s, lit),
        }
    }
    Some(lit.len())
}

#[cold]
fn suffix_len_slow(s: &str, lit: &str) -> Option<usize> {
    let sb = s.as_bytes();
    let mut j = sb.len();
    for &l in lit.as_bytes().iter().rev() {
        if j == 0 {
            return None;
        }
        let b = sb[j - 1];
        if b.is_ascii() {
            if !b.eq_ignore_ascii_case(&l) {
                return None;
            }
            j -= 1;
        } else {
            let c = s[..j].chars().next_back()?;
            if ascii_fold_of(c) != Some(l.to_ascii_lowercase()) {
                return None;
            }
            j -= c.len_utf8();
        }
    }
    Some(sb.len() - j)
}

/// Whether `s` equals `lit` under case folding.
#[inline]
pub(crate) fn equal(s: &str, lit: &str) -> bool {
    // A non-ASCII character is longer in bytes than the ASCII letter it folds to (3 bytes at
    // most), so a shorter value never matches and a much longer one neither.
    s.len() >= lit.len() && s.len() <= 3 * lit.len() && prefix_len(s, lit) == Some(s.len())
}

/// Writes the folded form of `s` into `out`: ASCII lower case, KELVIN SIGN and long s as
/// `k` and `s`, any other non-ASCII character as the byte 0xFF (which no ASCII key contains).
/// One output byte per character, so positions count characters.
pub(crate) fn normalise_into(s: &str, out: &mut smallvec::SmallVec<[u8; 64]>) {
    out.clear();
    if s.is_ascii() {
        out.extend(s.bytes().map(|b| b.to_ascii_lowercase()));
        return;
    }
    for c in s.chars() {
        out.push(if c.is_ascii() {
            (c as u8).to_ascii_lowercase()
        } else {
            ascii_fold_of(c).unwrap_or(0xFF)
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kelvin_and_long_s() {
        assert_eq!(prefix_len("\u{212A}ey", "KE"), Some(4));
        assert_eq!(suffix_len("a\u{17F}", "S"), Some(2));
        assert!(equal("\u{212A}", "k"));
        assert!(!equal("\u{212A}", "kk"));
        assert!(equal("FoO", "foo"));
        assert!(!equal("é", "e"));
        assert_eq!(prefix_len("éa", "e"), None);
        assert_eq!(suffix_len("", "a"), None);
    }
}
