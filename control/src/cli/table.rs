//! Plain aligned tables for terminal output.
use std::fmt;

/// A table: a header row and data rows, printed with columns padded to their widest cell.
pub struct Table {
    header: Vec<&'static str>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// An empty table with these column names.
    pub fn new(header: &[&'static str]) -> Self {
        Table { header: header.to_vec(), rows: Vec::new() }
    }

    /// Adds a row.
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// A two-column key/value table for one object.
    pub fn fields(pairs: Vec<(&'static str, String)>) -> Self {
        let mut t = Table::new(&["FIELD", "VALUE"]);
        for (k, v) in pairs {
            t.row(vec![k.to_string(), v]);
        }
        t
    }
}

impl fmt::Display for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut widths: Vec<usize> = self.header.iter().map(|h| h.len()).collect();
        for row in &self.rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let header = self.header.iter().map(|h| h.to_string()).collect::<Vec<_>>();
        for row in std::iter::once(&header).chain(&self.rows) {
            let line = row.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect::<Vec<_>>().join("  ");
            writeln!(f, "{}", line.trim_end())?;
        }
        Ok(())
    }
}

/// `-` for nothing, so empty cells stay visible.
pub fn or_dash<T: ToString>(v: Option<T>) -> String {
    v.map_or_else(|| "-".to_string(), |v| v.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_align_to_widest_cell() {
        let mut t = Table::new(&["NAME", "MODE"]);
        t.row(vec!["node-0001".into(), "stateful".into()]);
        t.row(vec!["n2".into(), "-".into()]);
        assert_eq!(t.to_string(), "NAME       MODE\nnode-0001  stateful\nn2         -\n");
    }
}
