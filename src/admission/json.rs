//! The JSON reader under the AdmissionReview decoder: a cursor over the
//! body's text that reads strictly what RFC 8259 allows, returns strings
//! borrowed from the body unless they are escaped, and skips a value it will
//! not keep without building anything (most of a real pod's bytes:
//! `managedFields`, `status`, `env`).
//!
//! It accepts and refuses what serde_json does for the same reads: a string
//! that is read (a key, a kept value) must not hold a lone surrogate escape,
//! one that is skipped may, as in serde_json; numbers that are kept are
//! handed to serde_json so their values are its values (`tests` compares
//! both readers). A body this reader refuses is read again by serde_json to
//! word the error (`why_not_a_review`), so an error names the place in the
//! body as serde_json would.

use std::borrow::Cow;
use std::fmt;

use serde_json::Value;

/// What is wrong with a body, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Error {
    message: String,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

pub(crate) type Result<T> = std::result::Result<T, Error>;

/// What the next value is, by its first byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Next {
    Object,
    Array,
    String,
    Number,
    True,
    False,
    Null,
}

impl Next {
    /// How serde's messages name a value of this kind.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Next::Object => "map",
            Next::Array => "sequence",
            Next::String => "string",
            Next::Number => "number",
            Next::True | Next::False => "boolean",
            Next::Null => "null",
        }
    }
}

/// A cursor over one body.
pub(crate) struct Reader<'de> {
    text: &'de str,
    at: usize,
    /// The containers a skip is inside of (`[` or `{`): a skip holds one
    /// byte per level, bounded by the body, and never recurses.
    open: Vec<u8>,
}

/// Bytes that end the plain run of a string: its quote, an escape, or a
/// control character (which JSON forbids inside a string).
fn ends_run(b: u8) -> bool {
    b == b'"' || b == b'\\' || b < 0x20
}

/// Where the plain run of a string's bytes starting at `from` ends (its
/// quote, an escape or a control character; the length when none): eight
/// bytes at a time, since most of a body's bytes are in strings. The
/// response writer asks the same question of the strings it writes.
#[inline]
pub(crate) fn plain_run_end(bytes: &[u8], from: usize) -> usize {
    const ONES: u64 = u64::MAX / 255;
    const HIGH: u64 = ONES << 7;
    let mut i = from;
    while let Some(chunk) = bytes.get(i..i + 8) {
        let word = u64::from_le_bytes(chunk.try_into().unwrap_or_default());
        // A byte's high bit is set where it is below 0x20, or equal to
        // `"` or `\`; a false mark can only follow a true one, and the
        // lowest mark is taken.
        let equal = |b: u8| {
            let zero_where_equal = word ^ (ONES * u64::from(b));
            zero_where_equal.wrapping_sub(ONES) & !zero_where_equal
        };
        let control = word.wrapping_sub(ONES * 0x20) & !word;
        let marks = (control | equal(b'"') | equal(b'\\')) & HIGH;
        if marks != 0 {
            return i + marks.trailing_zeros() as usize / 8;
        }
        i += 8;
    }
    i + bytes[i..].iter().take_while(|&&b| !ends_run(b)).count()
}

impl<'de> Reader<'de> {
    pub(crate) fn new(text: &'de str) -> Self {
        Reader {
            text,
            at: 0,
            open: Vec::new(),
        }
    }

    fn bytes(&self) -> &'de [u8] {
        self.text.as_bytes()
    }

    /// An error at the cursor, with serde_json's `line L column C`.
    #[cold]
    pub(crate) fn error(&self, what: impl fmt::Display) -> Error {
        let before = &self.bytes()[..self.at.min(self.text.len())];
        let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
        let column = before.len()
            - before
                .iter()
                .rposition(|&b| b == b'\n')
                .map_or(0, |i| i + 1);
        Error {
            message: format!("{what} at line {line} column {column}"),
        }
    }

    /// The next byte past whitespace, left in place.
    #[inline]
    fn peek_byte(&mut self) -> Option<u8> {
        // Whitespace is below `!`: one comparison for the usual compact body.
        match self.bytes().get(self.at) {
            Some(&b) if b > b' ' => Some(b),
            _ => self.peek_past_whitespace(),
        }
    }

    fn peek_past_whitespace(&mut self) -> Option<u8> {
        let bytes = self.bytes();
        while let Some(&b) = bytes.get(self.at) {
            if !matches!(b, b' ' | b'\n' | b'\t' | b'\r') {
                return Some(b);
            }
            self.at += 1;
        }
        None
    }

    /// What the next value is; an error if no value starts here.
    pub(crate) fn peek(&mut self) -> Result<Next> {
        Ok(match self.peek_byte() {
            Some(b'{') => Next::Object,
            Some(b'[') => Next::Array,
            Some(b'"') => Next::String,
            Some(b'-' | b'0'..=b'9') => Next::Number,
            Some(b't') => Next::True,
            Some(b'f') => Next::False,
            Some(b'n') => Next::Null,
            Some(_) => return Err(self.error("expected value")),
            None => return Err(self.error("EOF while parsing a value")),
        })
    }

    /// Only whitespace may follow the document.
    pub(crate) fn end(&mut self) -> Result<()> {
        match self.peek_byte() {
            None => Ok(()),
            Some(_) => Err(self.error("trailing characters")),
        }
    }

    /// Opens the object or array `peek` saw.
    pub(crate) fn open(&mut self) {
        self.at += 1;
    }

    /// The next key of an open object and the `:` after it, or `None` past
    /// its `}`. `first` is true for the first call on an object.
    pub(crate) fn next_key(&mut self, first: &mut bool) -> Result<Option<Cow<'de, str>>> {
        let mut next = self.peek_byte();
        if std::mem::take(first) {
            if next == Some(b'}') {
                self.at += 1;
                return Ok(None);
            }
        } else {
            match next {
                Some(b',') => {
                    self.at += 1;
                    next = self.peek_byte();
                }
                Some(b'}') => {
                    self.at += 1;
                    return Ok(None);
                }
                Some(_) => return Err(self.error("expected `,` or `}`")),
                None => return Err(self.error("EOF while parsing an object")),
            }
        }
        match next {
            Some(b'"') => self.at += 1,
            Some(_) => return Err(self.error("key must be a string")),
            None => return Err(self.error("EOF while parsing an object")),
        }
        let key = self.string_body()?;
        self.colon()?;
        Ok(Some(key))
    }

    fn colon(&mut self) -> Result<()> {
        match self.peek_byte() {
            Some(b':') => {
                self.at += 1;
                Ok(())
            }
            Some(_) => Err(self.error("expected `:`")),
            None => Err(self.error("EOF while parsing an object")),
        }
    }

    /// Whether an open array has another element (the cursor is then at
    /// it). `first` is true for the first call on an array.
    pub(crate) fn next_element(&mut self, first: &mut bool) -> Result<bool> {
        let next = self.peek_byte();
        if std::mem::take(first) {
            if next == Some(b']') {
                self.at += 1;
                return Ok(false);
            }
            return Ok(true);
        }
        match next {
            Some(b',') => {
                self.at += 1;
                Ok(true)
            }
            Some(b']') => {
                self.at += 1;
                Ok(false)
            }
            Some(_) => Err(self.error("expected `,` or `]`")),
            None => Err(self.error("EOF while parsing a list")),
        }
    }

    /// The string `peek` saw, unescaped.
    pub(crate) fn string(&mut self) -> Result<Cow<'de, str>> {
        self.at += 1;
        self.string_body()
    }

    /// `null`, `true` or `false` as `peek` saw it.
    pub(crate) fn literal(&mut self, next: Next) -> Result<Value> {
        let (word, value): (&[u8], _) = match next {
            Next::Null => (b"null", Value::Null),
            Next::True => (b"true", Value::Bool(true)),
            _ => (b"false", Value::Bool(false)),
        };
        self.word(word)?;
        Ok(value)
    }

    fn word(&mut self, word: &[u8]) -> Result<()> {
        let rest = &self.bytes()[self.at..];
        match rest.iter().zip(word).position(|(a, b)| a != b) {
            None if rest.len() >= word.len() => {
                self.at += word.len();
                Ok(())
            }
            None => {
                self.at = self.text.len();
                Err(self.error("EOF while parsing a value"))
            }
            Some(i) => {
                self.at += i + 1;
                Err(self.error("expected ident"))
            }
        }
    }

    /// The number `peek` saw, as serde_json's `Value` holds it.
    pub(crate) fn number(&mut self) -> Result<Value> {
        let start = self.at;
        self.skip_number()?;
        let token = &self.text[start..self.at];
        // Up to 19 digits always fit a u64; anything else is serde_json's.
        if token.len() <= 19 && token.bytes().all(|b| b.is_ascii_digit()) {
            if let Ok(n) = token.parse::<u64>() {
                return Ok(Value::from(n));
            }
        }
        serde_json::from_str::<Value>(token).map_err(|e| {
            self.error(
                e.to_string()
                    .split(" at line")
                    .next()
                    .unwrap_or("invalid number"),
            )
        })
    }

    fn digits(&mut self) -> usize {
        let rest = &self.bytes()[self.at..];
        let n = rest.iter().take_while(|b| b.is_ascii_digit()).count();
        self.at += n;
        n
    }

    fn skip_number(&mut self) -> Result<()> {
        if self.bytes().get(self.at) == Some(&b'-') {
            self.at += 1;
        }
        match self.bytes().get(self.at) {
            Some(b'0') => {
                self.at += 1;
                // One leading zero only.
                if self.bytes().get(self.at).is_some_and(u8::is_ascii_digit) {
                    return Err(self.error("invalid number"));
                }
            }
            Some(b'1'..=b'9') => {
                self.digits();
            }
            _ => return Err(self.error("invalid number")),
        }
        if self.bytes().get(self.at) == Some(&b'.') {
            self.at += 1;
            if self.digits() == 0 {
                return Err(self.error("invalid number"));
            }
        }
        if matches!(self.bytes().get(self.at), Some(b'e' | b'E')) {
            self.at += 1;
            if matches!(self.bytes().get(self.at), Some(b'+' | b'-')) {
                self.at += 1;
            }
            if self.digits() == 0 {
                return Err(self.error("invalid number"));
            }
        }
        Ok(())
    }

    /// Where the plain run of a string starting at `from` ends.
    #[inline]
    fn run_end(&self, from: usize) -> usize {
        plain_run_end(self.bytes(), from)
    }

    /// The rest of a string whose opening quote was read, unescaped:
    /// borrowed from the body unless it holds an escape. One plain run, the
    /// usual string, is inlined where a string is read; the rest is not.
    #[inline]
    fn string_body(&mut self) -> Result<Cow<'de, str>> {
        let start = self.at;
        let end = self.run_end(start);
        if self.bytes().get(end) == Some(&b'"') {
            self.at = end + 1;
            return Ok(Cow::Borrowed(&self.text[start..end]));
        }
        self.string_body_from(start, end)
    }

    /// `string_body` past a run from `start` that ends at `end` without a
    /// closing quote.
    #[inline(never)]
    fn string_body_from(&mut self, start: usize, mut end: usize) -> Result<Cow<'de, str>> {
        let mut owned: Option<String> = None;
        let mut from = start;
        loop {
            match self.bytes().get(end) {
                Some(b'"') => {
                    self.at = end + 1;
                    return Ok(match owned {
                        None => Cow::Borrowed(&self.text[start..end]),
                        Some(mut text) => {
                            text.push_str(&self.text[from..end]);
                            Cow::Owned(text)
                        }
                    });
                }
                Some(b'\\') => {
                    let text = owned.get_or_insert_with(|| String::with_capacity(end - start + 16));
                    text.push_str(&self.text[from..end]);
                    self.at = end + 1;
                    self.unescape(text)?;
                }
                _ => return Err(self.run_error(end)),
            }
            from = self.at;
            end = self.run_end(from);
        }
    }

    /// The error for a plain run of a string that ends at `end` with
    /// neither a quote nor an escape.
    #[cold]
    fn run_error(&mut self, end: usize) -> Error {
        if end < self.text.len() {
            self.at = end + 1;
            self.error("control character (\\u0000-\\u001F) found while parsing a string")
        } else {
            self.at = end;
            self.error("EOF while parsing a string")
        }
    }

    /// One escape after its backslash, appended to `out`.
    fn unescape(&mut self, out: &mut String) -> Result<()> {
        let Some(&b) = self.bytes().get(self.at) else {
            return Err(self.error("EOF while parsing a string"));
        };
        self.at += 1;
        let c = match b {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => {
                let high = self.hex4()?;
                let code = match high {
                    0xDC00..=0xDFFF => {
                        return Err(self.error("lone leading surrogate in hex escape"))
                    }
                    0xD800..=0xDBFF => {
                        if self.bytes().get(self.at..self.at + 2) != Some(b"\\u") {
                            self.at = (self.at + 1).min(self.text.len());
                            return Err(self.error("unexpected end of hex escape"));
                        }
                        self.at += 2;
                        let low = self.hex4()?;
                        if !(0xDC00..=0xDFFF).contains(&low) {
                            return Err(self.error("lone leading surrogate in hex escape"));
                        }
                        0x1_0000 + ((u32::from(high) - 0xD800) << 10) + (u32::from(low) - 0xDC00)
                    }
                    n => u32::from(n),
                };
                char::from_u32(code).ok_or_else(|| self.error("invalid unicode code point"))?
            }
            _ => return Err(self.error("invalid escape")),
        };
        out.push(c);
        Ok(())
    }

    fn hex4(&mut self) -> Result<u16> {
        let Some(digits) = self.bytes().get(self.at..self.at + 4) else {
            self.at = self.text.len();
            return Err(self.error("EOF while parsing a string"));
        };
        self.at += 4;
        let mut n = 0u16;
        for &d in digits {
            let v = match d {
                b'0'..=b'9' => d - b'0',
                b'a'..=b'f' => d - b'a' + 10,
                b'A'..=b'F' => d - b'A' + 10,
                _ => return Err(self.error("invalid escape")),
            };
            n = n << 4 | u16::from(v);
        }
        Ok(n)
    }

    /// Skips the rest of a string whose opening quote was read. Escapes are
    /// checked for form only: a skipped string may hold a lone surrogate.
    /// Most strings are one plain run: that case is inlined where a string
    /// is skipped, the rest is not.
    #[inline]
    fn skip_string(&mut self) -> Result<()> {
        let end = self.run_end(self.at);
        if self.bytes().get(end) == Some(&b'"') {
            self.at = end + 1;
            return Ok(());
        }
        self.skip_string_from(end)
    }

    /// `skip_string` past a run that ends at `end` without a closing quote.
    #[inline(never)]
    fn skip_string_from(&mut self, mut end: usize) -> Result<()> {
        loop {
            match self.bytes().get(end) {
                Some(b'"') => {
                    self.at = end + 1;
                    return Ok(());
                }
                Some(b'\\') => {
                    self.at = end + 2;
                    match self.bytes().get(end + 1) {
                        Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => {}
                        Some(b'u') => {
                            self.hex4()?;
                        }
                        Some(_) => return Err(self.error("invalid escape")),
                        None => {
                            self.at = end + 1;
                            return Err(self.error("EOF while parsing a string"));
                        }
                    }
                }
                _ => return Err(self.run_error(end)),
            }
            end = self.run_end(self.at);
        }
    }

    /// Skips one whole value at the cursor.
    pub(crate) fn skip(&mut self) -> Result<()> {
        let base = self.open.len();
        self.skip_from(base, false)
    }

    /// Skips the rest of an open array, one of whose elements was just read.
    pub(crate) fn skip_rest_of_array(&mut self) -> Result<()> {
        let base = self.open.len();
        self.open.push(b'[');
        self.skip_from(base, true)
    }

    /// The one loop behind every skip: values and the punctuation between
    /// them until the containers above `base` are closed. Iterative, so a
    /// deep body costs a byte per level, not a stack frame.
    fn skip_from(&mut self, base: usize, mut after_value: bool) -> Result<()> {
        loop {
            // Right after a value (the first round may start there), go
            // straight to the punctuation after it.
            if !std::mem::take(&mut after_value) {
                match self.peek_byte() {
                    Some(b'"') => {
                        self.at += 1;
                        self.skip_string()?;
                    }
                    Some(b'{') => {
                        self.at += 1;
                        match self.peek_byte() {
                            Some(b'}') => self.at += 1,
                            Some(b'"') => {
                                self.at += 1;
                                self.skip_string()?;
                                self.colon()?;
                                self.open.push(b'{');
                                continue;
                            }
                            Some(_) => return Err(self.error("key must be a string")),
                            None => return Err(self.error("EOF while parsing an object")),
                        }
                    }
                    Some(b'[') => {
                        self.at += 1;
                        if self.peek_byte() == Some(b']') {
                            self.at += 1;
                        } else {
                            self.open.push(b'[');
                            continue;
                        }
                    }
                    Some(b'-' | b'0'..=b'9') => self.skip_number()?,
                    Some(b'n') => self.word(b"null")?,
                    Some(b't') => self.word(b"true")?,
                    Some(b'f') => self.word(b"false")?,
                    Some(_) => return Err(self.error("expected value")),
                    None => return Err(self.error("EOF while parsing a value")),
                }
            }
            // After a value: close what ends here, or go on past a comma.
            loop {
                let Some(&frame) = self.open.get(base..).and_then(<[u8]>::last) else {
                    return Ok(());
                };
                match (self.peek_byte(), frame) {
                    (Some(b','), b'[') => {
                        self.at += 1;
                        break;
                    }
                    (Some(b','), _) => {
                        self.at += 1;
                        match self.peek_byte() {
                            Some(b'"') => self.at += 1,
                            Some(_) => return Err(self.error("key must be a string")),
                            None => return Err(self.error("EOF while parsing an object")),
                        }
                        self.skip_string()?;
                        self.colon()?;
                        break;
                    }
                    (Some(b']'), b'[') | (Some(b'}'), b'{') => {
                        self.at += 1;
                        self.open.pop();
                    }
                    (Some(_), b'[') => return Err(self.error("expected `,` or `]`")),
                    (Some(_), _) => return Err(self.error("expected `,` or `}`")),
                    (None, b'[') => return Err(self.error("EOF while parsing a list")),
                    (None, _) => return Err(self.error("EOF while parsing an object")),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
