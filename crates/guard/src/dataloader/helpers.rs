//! The two batch functions most loaders are, as helpers over the rows a query returned
//! (any driver; with sqlx: `sqlx::query_as(... WHERE id = ANY($1)).bind(&keys).fetch_all`).
//!
//! ```ignore
//! let authors = Loader::new(move |ids: Vec<i32>| {
//!     let pool = pool.clone();
//!     async move {
//!         let rows: Vec<Author> = sqlx::query_as("SELECT id, name FROM authors WHERE id = ANY($1)")
//!             .bind(&ids).fetch_all(&pool).await?;
//!         Ok(by_key(rows, |a| a.id))
//!     }
//! });
//! ```

use std::collections::HashMap;
use std::hash::Hash;

use super::Batch;

/// "Load by primary key": each row under its key; keys without a row are not found.
pub fn by_key<K, V, E>(
    rows: impl IntoIterator<Item = V>,
    key_of: impl Fn(&V) -> K,
) -> Batch<K, V, E> {
    rows.into_iter().map(|row| (key_of(&row), row)).collect()
}

/// "Load children by foreign key": the rows of each requested parent key, in the order the
/// query returned them; a parent without children gets an empty list (found, not missing).
pub fn children_by<K, V, E>(
    keys: &[K],
    rows: impl IntoIterator<Item = V>,
    parent_of: impl Fn(&V) -> K,
) -> Batch<K, Vec<V>, E>
where
    K: Eq + Hash + Clone,
{
    let mut groups: HashMap<K, Vec<V>> = keys.iter().map(|k| (k.clone(), Vec::new())).collect();
    for row in rows {
        if let Some(group) = groups.get_mut(&parent_of(&row)) {
            group.push(row);
        }
    }
    groups.into_iter().collect()
}
