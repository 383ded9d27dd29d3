//! Byte-level SQL tokenizer shared by fingerprinting, fact extraction and rewrites.
//!
//! It works on the UTF-8 bytes of a `&str` and never panics: every token boundary falls on an
//! ASCII byte or at the end of the input, so slicing the source at token bounds is always on a
//! char boundary. Whitespace and comments never become tokens; comments are only searched for
//! the `querycomb:allow` marker, and MySQL executable comments (`/*! ... */`) are lexed as SQL.
//! Decisions that need context (negative numbers, `?` and `:name`) look at the previous token.

use crate::Dialect;

/// What a token is, as far as normalisation cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Unquoted identifier or keyword (also MySQL `@var`).
    Word,
    /// `"Ident"` (PostgreSQL), `` `ident` `` (both dialects), `U&"..."`.
    Quoted,
    /// Any string literal, prefixed or dollar-quoted.
    Str,
    /// Numeric literal, with its sign when the sign is unary.
    Num,
    /// `TRUE`/`FALSE` used as a value (not after `IS` / `IS NOT`, where they are syntax).
    Bool,
    /// Bind placeholder: `$1`, `?`, `:name`, `%s`, `%(name)s`, `@p1`.
    Param,
    LParen,
    RParen,
    LBracket,
    RBracket,
    Comma,
    Semi,
    Dot,
    /// `::`
    Cast,
    /// Any other operator or stray byte.
    Op,
}

impl Kind {
    /// Kinds after which a `-`, `?` or `:` belongs to a binary operator, not a new operand.
    fn is_operand(self) -> bool {
        matches!(
            self,
            Kind::Word
                | Kind::Quoted
                | Kind::Str
                | Kind::Num
                | Kind::Bool
                | Kind::Param
                | Kind::RParen
                | Kind::RBracket
        )
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Token {
    pub kind: Kind,
    pub start: usize,
    pub end: usize,
}

/// `querycomb:allow` in any case, or the sqlcommenter tag forms `querycomb='allow'` and
/// `querycomb=allow` (so a tag added through a framework's sqlcommenter hook works too).
fn has_allow_marker(comment: &[u8]) -> bool {
    const NAME: &[u8] = b"querycomb";
    memchr::memchr2_iter(b'q', b'Q', comment).any(|at| {
        let Some(rest) = comment.get(at..) else {
            return false;
        };
        if !rest
            .get(..NAME.len())
            .is_some_and(|w| w.eq_ignore_ascii_case(NAME))
        {
            return false;
        }
        let after = rest.get(NAME.len()..).unwrap_or_default();
        let value = match after.first() {
            Some(b':') => after.get(1..),
            Some(b'=') => after.get(1..).map(|v| v.strip_prefix(b"'").unwrap_or(v)),
            _ => None,
        };
        value
            .and_then(|v| v.get(..5))
            .is_some_and(|v| v.eq_ignore_ascii_case(b"allow"))
    })
}

#[derive(Clone, Copy)]
pub(crate) struct Lexer<'a> {
    src: &'a [u8],
    pos: usize,
    mysql: bool,
    /// PostgreSQL: a `?` after an operand may be a jsonb/geometric operator.
    postgres: bool,
    /// Open MySQL `/*! ... */` comments whose closing `*/` must be skipped.
    exec_depth: u32,
    /// The previous token (`prev_kind` is `None` at the start).
    prev_kind: Option<Kind>,
    prev_start: usize,
    prev_end: usize,
    /// A comment contained the allow marker (see [`has_allow_marker`]).
    pub allow: bool,
}

const IDENT_START: u8 = 1;
const IDENT_CONT: u8 = 2;

/// Byte classes, looked up once per byte in the hot loops.
// Evaluated at compile time, where an index out of bounds fails the build; `b < 256` anyway.
#[allow(clippy::indexing_slicing)]
static CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut b = 0usize;
    while b < 256 {
        let c = b as u8;
        if c.is_ascii_alphabetic() || c == b'_' || c >= 0x80 {
            t[b] = IDENT_START | IDENT_CONT;
        } else if c.is_ascii_digit() || c == b'$' {
            t[b] = IDENT_CONT;
        }
        b += 1;
    }
    t
};

#[inline(always)]
fn is_ident_start(b: u8) -> bool {
    class(b) & IDENT_START != 0
}

#[inline(always)]
fn is_ident_cont(b: u8) -> bool {
    class(b) & IDENT_CONT != 0
}

/// `CLASS` has an entry for every `u8`, so the `get` always succeeds and compiles to a plain
/// load.
#[inline(always)]
fn class(b: u8) -> u8 {
    CLASS.get(usize::from(b)).copied().unwrap_or(0)
}

#[inline]
fn is_op_char(b: u8) -> bool {
    matches!(
        b,
        b'+' | b'-'
            | b'*'
            | b'/'
            | b'<'
            | b'>'
            | b'='
            | b'~'
            | b'!'
            | b'@'
            | b'#'
            | b'%'
            | b'^'
            | b'&'
            | b'|'
    )
}

impl<'a> Lexer<'a> {
    pub fn new(sql: &'a str, dialect: Dialect) -> Self {
        Lexer {
            src: sql.as_bytes(),
            pos: 0,
            mysql: dialect == Dialect::MySql,
            postgres: dialect == Dialect::Postgres,
            exec_depth: 0,
            prev_kind: None,
            prev_start: 0,
            prev_end: 0,
            allow: false,
        }
    }

    #[inline]
    fn at(&self, i: usize) -> u8 {
        self.src.get(i).copied().unwrap_or(0)
    }

    /// The next token after this one, without consuming anything (copies the lexer: keep it
    /// off the per-token path).
    pub fn peek(&self) -> Option<Token> {
        let mut ahead = *self;
        ahead.next_token()
    }

    #[inline(always)]
    pub fn next_token(&mut self) -> Option<Token> {
        // Usually one space separates tokens: step over it inline, call out for anything more.
        if self.at(self.pos) == b' ' {
            self.pos += 1;
        }
        if matches!(self.at(self.pos), 0..=b' ' | b'-' | b'/' | b'#' | b'*') {
            self.skip_trivia();
        }
        let start = self.pos;
        let b = *self.src.get(start)?;
        let next = self.at(start + 1);
        // Fast paths for the commonest tokens: plain words and PostgreSQL quoted identifiers.
        let kind = if is_ident_start(b) && next != b'\'' && next != b'&' {
            self.lex_plain_word(start)
        } else if b == b'"' && !self.mysql {
            self.lex_quoted(start, b'"', false, Kind::Quoted)
        } else if b == b',' {
            self.single(Kind::Comma)
        } else if b.is_ascii_digit() {
            self.lex_number_or_word(start)
        } else if b == b'.' && !next.is_ascii_digit() {
            self.single(Kind::Dot)
        } else {
            self.lex_at(b, start)
        };
        self.prev_kind = Some(kind);
        self.prev_start = start;
        self.prev_end = self.pos;
        Some(Token {
            kind,
            start,
            end: self.pos,
        })
    }

    /// The byte offset just after the last token read.
    pub fn pos_after_last(&self) -> usize {
        self.prev_end
    }

    /// The next byte after plain whitespace (comments are not skipped), or 0 at the end.
    #[inline]
    pub fn peek_byte(&self) -> u8 {
        self.byte_after_spaces(self.pos)
    }

    #[inline]
    fn byte_after_spaces(&self, mut i: usize) -> u8 {
        loop {
            let b = self.at(i);
            if b > b' ' || i >= self.src.len() {
                return b;
            }
            i += 1;
        }
    }

    /// `, (` follows (plain whitespace only): another row of a multi-row VALUES.
    pub fn next_is_comma_paren(&self) -> bool {
        let i = self.skip_spaces(self.pos);
        self.at(i) == b',' && self.byte_after_spaces(i + 1) == b'('
    }

    /// `::` follows (plain whitespace only).
    pub fn next_is_cast(&self) -> bool {
        let i = self.skip_spaces(self.pos);
        self.at(i) == b':' && self.at(i + 1) == b':'
    }

    fn skip_spaces(&self, mut i: usize) -> usize {
        while i < self.src.len() && self.at(i) <= b' ' {
            i += 1;
        }
        i
    }

    /// Skips whitespace and comments; notes the allow marker.
    #[inline(never)]
    fn skip_trivia(&mut self) {
        loop {
            let b = self.at(self.pos);
            if self.pos >= self.src.len() {
                return;
            }
            if b <= b' ' {
                self.pos += 1;
                continue;
            }
            let next = self.at(self.pos + 1);
            match b {
                b'-' if next == b'-' && self.dash_dash_is_comment() => self.skip_line_comment(),
                b'#' if self.mysql => self.skip_line_comment(),
                b'/' if next == b'*' => self.skip_block_comment(),
                b'*' if next == b'/' && self.exec_depth > 0 => {
                    self.exec_depth -= 1;
                    self.pos += 2;
                }
                _ => return,
            }
        }
    }

    /// MySQL needs whitespace (or the end) after `--`; PostgreSQL does not.
    fn dash_dash_is_comment(&self) -> bool {
        !self.mysql || self.at(self.pos + 2) <= b' '
    }

    fn skip_line_comment(&mut self) {
        let start = self.pos;
        let rest = self.src.get(start..).unwrap_or_default();
        let len = memchr::memchr(b'\n', rest).unwrap_or(rest.len());
        self.pos = start + len;
        self.note_marker(start, self.pos);
    }

    fn skip_block_comment(&mut self) {
        let start = self.pos;
        if self.mysql && self.at(start + 2) == b'!' {
            // Executable comment: its content is SQL. Skip `/*!` and an optional version number.
            self.pos = start + 3;
            while self.at(self.pos).is_ascii_digit() {
                self.pos += 1;
            }
            self.exec_depth += 1;
            return;
        }
        let mut depth = 0u32;
        let mut i = start;
        let len = self.src.len();
        while i < len {
            // Jump to the next byte that can open or close a comment.
            match memchr::memchr2(b'/', b'*', self.src.get(i..).unwrap_or_default()) {
                Some(at) => i += at,
                None => break,
            }
            let c = self.at(i);
            let n = self.at(i + 1);
            if c == b'/' && n == b'*' && (depth == 0 || !self.mysql) {
                depth += 1;
                i += 2;
            } else if c == b'*' && n == b'/' {
                depth -= 1;
                i += 2;
                if depth == 0 {
                    break;
                }
            } else {
                i += 1;
            }
        }
        self.pos = if depth == 0 { i.min(len) } else { len };
        self.note_marker(start, self.pos);
    }

    fn note_marker(&mut self, start: usize, end: usize) {
        if !self.allow {
            self.allow = has_allow_marker(self.src.get(start..end).unwrap_or_default());
        }
    }

    fn lex_at(&mut self, b: u8, start: usize) -> Kind {
        let next = self.at(start + 1);
        match b {
            b'\'' => self.lex_quoted(start, b'\'', self.mysql, Kind::Str),
            b'"' if self.mysql => self.lex_quoted(start, b'"', true, Kind::Str),
            b'"' => self.lex_quoted(start, b'"', false, Kind::Quoted),
            b'`' => self.lex_quoted(start, b'`', false, Kind::Quoted),
            b'0'..=b'9' => self.lex_number_or_word(start),
            b'.' if next.is_ascii_digit() && !self.prev_is(Kind::Word) => self.lex_number(start),
            b'(' => self.single(Kind::LParen),
            b')' => self.single(Kind::RParen),
            b'[' => self.single(Kind::LBracket),
            b']' => self.single(Kind::RBracket),
            b',' => self.single(Kind::Comma),
            b';' => self.single(Kind::Semi),
            b'.' => self.single(Kind::Dot),
            b'$' => self.lex_dollar(start),
            b'?' => self.lex_question(start),
            b':' => self.lex_colon(start),
            b'%' if next == b's' && !is_ident_cont(self.at(start + 2)) => {
                self.advance_to(start + 2, Kind::Param)
            }
            b'%' if next == b'(' => self.lex_pyformat(start),
            b'@' => self.lex_at_sign(start),
            _ if is_ident_start(b) => self.lex_word(start),
            _ if is_op_char(b) => self.lex_operator(start),
            _ => self.single(Kind::Op),
        }
    }

    #[inline]
    fn single(&mut self, kind: Kind) -> Kind {
        self.pos += 1;
        kind
    }

    #[inline]
    fn advance_to(&mut self, end: usize, kind: Kind) -> Kind {
        self.pos = end.min(self.src.len());
        kind
    }

    fn prev_is(&self, kind: Kind) -> bool {
        self.prev_kind == Some(kind)
    }

    /// The previous token ends an operand (so a following `-`/`?`/`:` is a binary operator).
    fn prev_is_operand(&self) -> bool {
        match self.prev_kind {
            None => false,
            Some(Kind::Word) => {
                let word = self
                    .src
                    .get(self.prev_start..self.prev_end)
                    .unwrap_or_default();
                !crate::keywords::is_reserved(word)
            }
            Some(kind) => kind.is_operand(),
        }
    }

    /// A quoted run: `'..'` (doubled quote escapes), with backslash escapes when asked.
    /// Unterminated runs end at the end of the input.
    #[inline]
    fn lex_quoted(&mut self, start: usize, quote: u8, backslash: bool, kind: Kind) -> Kind {
        let mut i = start + 1;
        let len = self.src.len();
        loop {
            let rest = self.src.get(i..).unwrap_or_default();
            let found = find_quote_end(rest, quote, backslash);
            let Some(at) = found else {
                return self.advance_to(len, kind);
            };
            i += at;
            // A backslash escape or a doubled quote: skip both bytes.
            if self.at(i) == b'\\' || self.at(i + 1) == quote {
                i += 2;
            } else {
                return self.advance_to(i + 1, kind);
            }
        }
    }

    /// An unquoted word with no string prefix (the caller checked there is none).
    #[inline(always)]
    fn lex_plain_word(&mut self, start: usize) -> Kind {
        let rest = self.src.get(start + 1..).unwrap_or_default();
        let len = rest
            .iter()
            .position(|&c| !is_ident_cont(c))
            .unwrap_or(rest.len());
        self.word_end(start, start + 1 + len)
    }

    /// Ends a word at `end`: a `Word`, or `Bool` for a TRUE/FALSE value.
    #[inline(always)]
    fn word_end(&mut self, start: usize, end: usize) -> Kind {
        let kind = if matches!(end - start, 4 | 5) && self.is_bool_value(start, end) {
            Kind::Bool
        } else {
            Kind::Word
        };
        self.advance_to(end, kind)
    }

    #[cold]
    fn is_bool_value(&self, start: usize, end: usize) -> bool {
        let word = self.src.get(start..end).unwrap_or_default();
        let is_bool = crate::keywords::eq(word, b"true") || crate::keywords::eq(word, b"false");
        let prev = self
            .src
            .get(self.prev_start..self.prev_end)
            .unwrap_or_default();
        let after_is = self.prev_kind == Some(Kind::Word)
            && (crate::keywords::eq(prev, b"is") || crate::keywords::eq(prev, b"not"));
        is_bool && !after_is
    }

    fn lex_word(&mut self, start: usize) -> Kind {
        let b = self.at(start);
        let next = self.at(start + 1);
        if next == b'\'' {
            // Prefixed string literals: E'..' (backslash escapes), B'..', X'..', N'..'.
            match b | 0x20 {
                b'e' if !self.mysql => return self.lex_quoted(start + 1, b'\'', true, Kind::Str),
                b'b' | b'x' | b'n' => {
                    return self.lex_quoted(start + 1, b'\'', self.mysql, Kind::Str)
                }
                _ => {}
            }
        }
        if (b | 0x20) == b'u' && next == b'&' && !self.mysql {
            match self.at(start + 2) {
                b'\'' => return self.lex_quoted(start + 2, b'\'', false, Kind::Str),
                b'"' => return self.lex_quoted(start + 2, b'"', false, Kind::Quoted),
                _ => {}
            }
        }
        let rest = self.src.get(start + 1..).unwrap_or_default();
        let len = rest
            .iter()
            .position(|&c| !is_ident_cont(c))
            .unwrap_or(rest.len());
        self.word_end(start, start + 1 + len)
    }

    /// A number; in MySQL a digit-led name such as `1st_table` stays a word.
    fn lex_number_or_word(&mut self, start: usize) -> Kind {
        let kind = self.lex_number(start);
        if self.mysql && is_ident_start(self.at(self.pos)) {
            let mut i = self.pos;
            while is_ident_cont(self.at(i)) {
                i += 1;
            }
            return self.advance_to(i, Kind::Word);
        }
        kind
    }

    fn lex_number(&mut self, start: usize) -> Kind {
        let mut i = start;
        if self.at(i) == b'0' {
            let radix_digit: Option<fn(u8) -> bool> = match self.at(i + 1) | 0x20 {
                b'x' => Some(|c: u8| c.is_ascii_hexdigit()),
                b'b' => Some(|c: u8| c == b'0' || c == b'1'),
                b'o' => Some(|c: u8| (b'0'..=b'7').contains(&c)),
                _ => None,
            };
            if let Some(is_digit) = radix_digit {
                if is_digit(self.at(i + 2)) {
                    i += 2;
                    while is_digit(self.at(i)) || self.at(i) == b'_' {
                        i += 1;
                    }
                    return self.advance_to(i, Kind::Num);
                }
            }
        }
        i = self.skip_digits(i);
        if self.at(i) == b'.' && self.at(i + 1) != b'.' {
            i = self.skip_digits(i + 1);
        }
        if self.at(i) | 0x20 == b'e' {
            let mut j = i + 1;
            if matches!(self.at(j), b'+' | b'-') {
                j += 1;
            }
            if self.at(j).is_ascii_digit() {
                i = self.skip_digits(j);
            }
        }
        self.advance_to(i, Kind::Num)
    }

    fn skip_digits(&self, mut i: usize) -> usize {
        while self.at(i).is_ascii_digit() || (self.at(i) == b'_' && self.at(i + 1).is_ascii_digit())
        {
            i += 1;
        }
        i
    }

    /// `$1` placeholders everywhere; `$$..$$` / `$tag$..$tag$` strings in PostgreSQL.
    fn lex_dollar(&mut self, start: usize) -> Kind {
        let mut i = start + 1;
        if self.at(i).is_ascii_digit() {
            while self.at(i).is_ascii_digit() {
                i += 1;
            }
            return self.advance_to(i, Kind::Param);
        }
        if self.mysql {
            return self.lex_word(start);
        }
        if is_ident_start(self.at(i)) {
            while is_ident_cont(self.at(i)) && self.at(i) != b'$' {
                i += 1;
            }
        }
        if self.at(i) != b'$' {
            return self.advance_to(start + 1, Kind::Op);
        }
        let tag = self.src.get(start..=i).unwrap_or_default();
        let body = self.src.get(i + 1..).unwrap_or_default();
        let end = match find(body, tag) {
            Some(at) => i + 1 + at + tag.len(),
            None => self.src.len(),
        };
        self.advance_to(end, Kind::Str)
    }

    /// `?` is a placeholder, except PostgreSQL's jsonb/geometric operators. Rule: after an operand
    /// (identifier, literal, `)`/`]`), `?|`, `?&`, `?-`, `?#` and `??` (JDBC escape) are operators, and
    /// a bare `?` is an operator when a string literal or `$n` follows it.
    fn lex_question(&mut self, start: usize) -> Kind {
        if !self.postgres || !self.prev_is_operand() {
            return self.advance_to(start + 1, Kind::Param);
        }
        let next = self.at(start + 1);
        match next {
            b'|' if self.at(start + 2) != b'|' => return self.advance_to(start + 2, Kind::Op),
            b'&' | b'?' | b'#' => return self.advance_to(start + 2, Kind::Op),
            b'-' if self.at(start + 2) == b'|' => return self.advance_to(start + 3, Kind::Op),
            _ => {}
        }
        let mut j = start + 1;
        while self.at(j) == b' '
            || self.at(j) == b'\t'
            || self.at(j) == b'\n'
            || self.at(j) == b'\r'
        {
            j += 1;
        }
        let c = self.at(j);
        let string_follows = c == b'\''
            || (c == b'$'
                && (self.at(j + 1) == b'$'
                    || self.at(j + 1).is_ascii_digit()
                    || is_ident_start(self.at(j + 1))))
            || (matches!(c | 0x20, b'e' | b'u') && self.at(j + 1) == b'\'');
        let kind = if string_follows {
            Kind::Op
        } else {
            Kind::Param
        };
        self.advance_to(start + 1, kind)
    }

    /// `::` casts, `:=`, and `:name` placeholders (only where an operand may start).
    fn lex_colon(&mut self, start: usize) -> Kind {
        match self.at(start + 1) {
            b':' => self.advance_to(start + 2, Kind::Cast),
            b'=' => self.advance_to(start + 2, Kind::Op),
            c if is_ident_start(c) && !self.prev_is_operand() => {
                let mut i = start + 2;
                while is_ident_cont(self.at(i)) {
                    i += 1;
                }
                self.advance_to(i, Kind::Param)
            }
            // Oracle's numbered binds (`:1`); in PostgreSQL `[:2]` is an array slice.
            c if c.is_ascii_digit() && !self.postgres && !self.prev_is_operand() => {
                let mut i = start + 2;
                while self.at(i).is_ascii_digit() {
                    i += 1;
                }
                self.advance_to(i, Kind::Param)
            }
            _ => self.advance_to(start + 1, Kind::Op),
        }
    }

    /// `%(name)s` (Python pyformat).
    fn lex_pyformat(&mut self, start: usize) -> Kind {
        let mut i = start + 2;
        while is_ident_cont(self.at(i)) {
            i += 1;
        }
        if self.at(i) == b')' && self.at(i + 1) == b's' {
            return self.advance_to(i + 2, Kind::Param);
        }
        self.lex_operator(start)
    }

    /// `@p1` placeholders (ADO/JDBC style), `@name` ones outside PostgreSQL and MySQL, MySQL
    /// `@var` / `@@sys.var` names, else operators.
    fn lex_at_sign(&mut self, start: usize) -> Kind {
        if self.at(start + 1) | 0x20 == b'p' && self.at(start + 2).is_ascii_digit() {
            let mut i = start + 2;
            while self.at(i).is_ascii_digit() {
                i += 1;
            }
            if !is_ident_cont(self.at(i)) {
                return self.advance_to(i, Kind::Param);
            }
        }
        // SQL Server's and SQLite's named parameters (`@CustomerId`); `@` is an operator in
        // PostgreSQL and starts a variable name in MySQL.
        if !self.mysql && !self.postgres && is_ident_start(self.at(start + 1)) {
            let mut i = start + 1;
            while is_ident_cont(self.at(i)) {
                i += 1;
            }
            return self.advance_to(i, Kind::Param);
        }
        if self.mysql {
            let mut i = start + 1;
            if self.at(i) == b'@' {
                i += 1;
            }
            if is_ident_start(self.at(i)) || self.at(i).is_ascii_digit() {
                while is_ident_cont(self.at(i)) || self.at(i) == b'.' {
                    i += 1;
                }
                return self.advance_to(i, Kind::Word);
            }
        }
        self.lex_operator(start)
    }

    /// A run of operator characters, cut before comment starts. As PostgreSQL does, a trailing
    /// `+`/`-` is split off a multi-character operator made only of `+-*/<>=` so `=-5` is `=` `-5`.
    /// A unary `-`/`+` before a number folds into the number.
    fn lex_operator(&mut self, start: usize) -> Kind {
        let mut i = start;
        let mut special = false;
        while is_op_char(self.at(i)) {
            let c = self.at(i);
            let n = self.at(i + 1);
            if i > start
                && ((c == b'-' && n == b'-')
                    || (c == b'/' && n == b'*')
                    || (c == b'#' && self.mysql))
            {
                break;
            }
            special |= matches!(c, b'~' | b'!' | b'@' | b'#' | b'%' | b'^' | b'&' | b'|');
            i += 1;
        }
        if !special {
            while i > start + 1 && matches!(self.at(i - 1), b'+' | b'-') {
                i -= 1;
            }
        }
        let single_sign = i == start + 1 && matches!(self.at(start), b'+' | b'-');
        if single_sign && !self.prev_is_operand() {
            let mut j = i;
            while self.at(j) == b' ' || self.at(j) == b'\t' {
                j += 1;
            }
            let c = self.at(j);
            if c.is_ascii_digit() || (c == b'.' && self.at(j + 1).is_ascii_digit()) {
                return self.lex_number(j);
            }
        }
        self.advance_to(i.max(start + 1), Kind::Op)
    }
}

/// Index of the first `quote` (or backslash, when escapes apply) in `rest`. Identifiers and
/// most literals are short, so a plain loop over the first bytes beats memchr's setup.
#[inline(always)]
fn find_quote_end(rest: &[u8], quote: u8, backslash: bool) -> Option<usize> {
    const SHORT: usize = 24;
    let is_stop = |c: u8| c == quote || (backslash && c == b'\\');
    let head = rest.get(..SHORT).unwrap_or(rest);
    if let Some(at) = head.iter().position(|&c| is_stop(c)) {
        return Some(at);
    }
    let tail = rest.get(head.len()..)?;
    let found = if backslash {
        memchr::memchr2(quote, b'\\', tail)
    } else {
        memchr::memchr(quote, tail)
    };
    found.map(|at| at + head.len())
}

/// First index of `needle` in `hay` (short needles, rare calls).
pub(crate) fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return Some(0);
    }
    hay.windows(needle.len()).position(|w| w == needle)
}
