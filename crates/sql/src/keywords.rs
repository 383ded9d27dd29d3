//! Keyword tables: which words are printed upper-case in normalised text, and which words end
//! an expression context (so a following `-5`, `?` or `:name` starts a new operand).

/// Lower-cases `word` into `buf` when it is short enough to be a keyword.
fn lower<'b>(word: &[u8], buf: &'b mut [u8; 24]) -> Option<&'b [u8]> {
    let out = buf.get_mut(..word.len())?;
    for (o, w) in out.iter_mut().zip(word) {
        *o = w.to_ascii_lowercase();
    }
    Some(out)
}

/// Reserved words that cannot end an operand (`WHERE -1`, `LIMIT ?`, `THEN :x`).
pub(crate) fn is_reserved(word: &[u8]) -> bool {
    let mut buf = [0u8; 24];
    let Some(w) = lower(word, &mut buf) else {
        return false;
    };
    matches!(
        w,
        b"select"
            | b"from"
            | b"where"
            | b"and"
            | b"or"
            | b"not"
            | b"in"
            | b"is"
            | b"like"
            | b"ilike"
            | b"between"
            | b"case"
            | b"when"
            | b"then"
            | b"else"
            | b"end"
            | b"limit"
            | b"offset"
            | b"values"
            | b"set"
            | b"on"
            | b"having"
            | b"by"
            | b"distinct"
            | b"all"
            | b"any"
            | b"some"
            | b"escape"
            | b"interval"
            | b"fetch"
            | b"first"
            | b"next"
            | b"to"
            | b"as"
            | b"return"
            | b"returning"
            | b"default"
            | b"join"
            | b"using"
            | b"into"
            | b"insert"
            | b"update"
            | b"delete"
            | b"group"
            | b"order"
            | b"union"
            | b"except"
            | b"intersect"
            | b"with"
            | b"exists"
            | b"similar"
            | b"array"
            | b"row"
            | b"rows"
            | b"only"
            | b"asc"
            | b"desc"
            | b"nulls"
            | b"over"
            | b"partition"
            | b"window"
            | b"lateral"
            | b"inner"
            | b"left"
            | b"right"
            | b"full"
            | b"outer"
            | b"cross"
            | b"natural"
            | b"table"
            | b"do"
            | b"conflict"
            | b"nothing"
            | b"duplicate"
            | b"for"
            | b"regexp"
            | b"rlike"
            | b"div"
            | b"mod"
            | b"xor"
            | b"collate"
            | b"at"
            | b"zone"
            | b"straight_join"
    )
}

/// Function-like keywords: printed upper-case, but an operand and written `NAME(` without a space.
fn is_function_keyword(w: &[u8]) -> bool {
    matches!(
        w,
        b"count"
            | b"sum"
            | b"avg"
            | b"min"
            | b"max"
            | b"coalesce"
            | b"nullif"
            | b"greatest"
            | b"least"
            | b"cast"
            | b"extract"
            | b"now"
            | b"lower"
            | b"upper"
            | b"true"
            | b"false"
            | b"null"
            | b"current_timestamp"
            | b"current_date"
            | b"current_user"
            | b"unnest"
            | b"array_agg"
            | b"string_agg"
            | b"json_agg"
            | b"jsonb_agg"
            | b"group_concat"
            | b"bool_and"
            | b"bool_or"
            | b"every"
            | b"row_number"
            | b"rank"
            | b"dense_rank"
            | b"filter"
            | b"primary"
            | b"ignore"
            | b"replace"
            | b"begin"
            | b"commit"
            | b"rollback"
            | b"savepoint"
            | b"release"
            | b"start"
            | b"transaction"
            | b"prepare"
            | b"execute"
            | b"deallocate"
            | b"declare"
            | b"close"
            | b"show"
            | b"copy"
            | b"call"
            | b"merge"
            | b"matched"
            | b"recursive"
            | b"materialized"
            | b"cursor"
            | b"hold"
            | b"without"
            | b"explain"
            | b"analyze"
            | b"abort"
            | b"work"
            | b"isolation"
            | b"level"
            | b"read"
            | b"write"
            | b"committed"
            | b"serializable"
            | b"repeatable"
            | b"share"
            | b"nowait"
            | b"skip"
            | b"locked"
            | b"high_priority"
            | b"sql_calc_found_rows"
            | b"force"
            | b"index"
            | b"use"
            | b"session"
            | b"local"
            | b"global"
            | b"character"
            | b"varying"
            | b"precision"
            | b"double"
            | b"time"
            | b"timestamp"
            | b"date"
    )
}

/// How a word prints in normalised text.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum WordClass {
    /// Clause keyword: upper-case, `IN (` with a space.
    Reserved,
    /// Function-like keyword: upper-case, `COUNT(` without a space.
    Function,
    /// Identifier: as written.
    Name,
}

pub(crate) fn classify(word: &[u8]) -> WordClass {
    if is_reserved(word) {
        return WordClass::Reserved;
    }
    let mut buf = [0u8; 24];
    match lower(word, &mut buf) {
        Some(w) if is_function_keyword(w) => WordClass::Function,
        _ => WordClass::Name,
    }
}

/// Case-insensitive comparison with a lower-case keyword.
#[inline]
pub(crate) fn eq(word: &[u8], lower_kw: &[u8]) -> bool {
    word.len() == lower_kw.len()
        && word
            .iter()
            .zip(lower_kw)
            .all(|(a, b)| a.to_ascii_lowercase() == *b)
}
