//! Reading rows by column name. A statement's columns are looked up by name once, when it
//! is prepared, and each row's values are then read by those names: a query whose columns
//! are reordered, or gain one, is read the same, and a name the query lacks is an error,
//! never another column's value.

use std::cmp::Ordering;

use rusqlite::types::FromSql;
use rusqlite::{Row, Statement};

/// The columns of one statement, by name (as SQLite reports it: the alias when there is
/// one).
pub(crate) struct Columns {
    /// Lower-cased names with their positions, sorted by name.
    names: Vec<(String, usize)>,
}

impl Columns {
    /// The columns of `statement`.
    pub fn of(statement: &Statement<'_>) -> Columns {
        let mut names: Vec<(String, usize)> = statement
            .column_names()
            .into_iter()
            .enumerate()
            .map(|(i, name)| (name.to_ascii_lowercase(), i))
            .collect();
        names.sort();
        Columns { names }
    }

    /// The position of the column `name`. A name the statement has twice is refused too:
    /// which of the two a row would give is not what the caller asked.
    fn index(&self, name: &str) -> rusqlite::Result<usize> {
        // Compared lower-cased byte by byte: no allocation per value read.
        let order = |stored: &str| {
            stored
                .bytes()
                .cmp(name.bytes().map(|b| b.to_ascii_lowercase()))
        };
        let at = self
            .names
            .partition_point(|(n, _)| order(n) == Ordering::Less);
        let is_it = |at: usize| {
            self.names
                .get(at)
                .is_some_and(|(n, _)| order(n) == Ordering::Equal)
        };
        match self.names.get(at) {
            Some((_, i)) if is_it(at) && !is_it(at + 1) => Ok(*i),
            Some(_) if is_it(at) => Err(rusqlite::Error::InvalidColumnName(format!(
                "{name} (twice)"
            ))),
            _ => Err(rusqlite::Error::InvalidColumnName(name.to_string())),
        }
    }

    /// The value of column `name` in `row`.
    pub fn get<T: FromSql>(&self, row: &Row<'_>, name: &str) -> rusqlite::Result<T> {
        row.get(self.index(name)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_read_by_name_whatever_the_order() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        for sql in ["SELECT 1 AS a, 'x' AS b", "SELECT 'x' AS b, 1 AS a, 2 AS c"] {
            let mut stmt = conn.prepare(sql).unwrap();
            let columns = Columns::of(&stmt);
            let (a, b): (i64, String) = stmt
                .query_row([], |row| {
                    Ok((columns.get(row, "a")?, columns.get(row, "B")?))
                })
                .unwrap();
            assert_eq!((a, b.as_str()), (1, "x"));
        }
    }

    #[test]
    fn a_missing_or_repeated_name_is_an_error() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        let mut stmt = conn.prepare("SELECT 1 AS a, 2 AS a, 3 AS b").unwrap();
        let columns = Columns::of(&stmt);
        stmt.query_row([], |row| {
            assert!(columns.get::<i64>(row, "a").is_err());
            assert!(columns.get::<i64>(row, "c").is_err());
            assert_eq!(columns.get::<i64>(row, "b").unwrap(), 3);
            Ok(())
        })
        .unwrap();
    }
}
