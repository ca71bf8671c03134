//! SCIM filters (RFC 7644 §3.4.2.2): the AST, its parser and an in-memory evaluator.

mod ast;
mod eval;
mod parse;
#[cfg(test)]
mod tests;

pub use ast::{AttrPath, CompValue, CompareOp, Filter};
pub use parse::{parse_filter, parse_patch_path, PatchPath};

impl std::str::FromStr for Filter {
    type Err = crate::error::ScimError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_filter(s)
    }
}
