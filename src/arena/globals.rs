//! The `__arena` globals that objects loaded on an arena placed in it, so
//! that two objects sharing one arena cannot silently overlap each other's
//! variables.

use super::Arena;
use crate::error::{Error, Result};

/// The `__arena` globals one object placed in an arena.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct GlobalsClaim {
    pub(crate) object: String,
    pub(crate) vars: Vec<PlacedVar>,
}

/// One `__arena` variable: its name, arena offset and size.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct PlacedVar {
    pub(crate) name: String,
    pub(crate) at: u64,
    pub(crate) size: u64,
}

impl PlacedVar {
    fn end(&self) -> u64 {
        self.at.saturating_add(self.size)
    }
}

impl GlobalsClaim {
    /// The first variable of `self` whose bytes overlap a variable of
    /// `other` that is not the same variable (same name, place and size).
    fn clash<'a>(&'a self, other: &'a GlobalsClaim) -> Option<(&'a PlacedVar, &'a PlacedVar)> {
        self.vars.iter().find_map(|a| {
            other
                .vars
                .iter()
                .find(|b| a != *b && a.at < b.end() && b.at < a.end())
                .map(|b| (a, b))
        })
    }
}

impl Arena {
    /// Checks the `__arena` globals an object places in this arena against
    /// those other objects placed here (and records them when `record`):
    /// one that overlaps a different variable is an error naming both.
    /// Objects that declare the same variables at the same places share
    /// them, as intended.
    pub(crate) fn claim_globals(&self, claim: &GlobalsClaim, record: bool) -> Result<()> {
        let mut claims = self.globals.lock().unwrap_or_else(|e| e.into_inner());
        for other in claims.iter() {
            if let Some((a, b)) = claim.clash(other) {
                return Err(Error::WrongObject {
                    what: format!("__arena globals of object '{}'", claim.object),
                    reason: format!(
                        "'{}' (arena bytes {:#x}..{:#x}) would overlap '{}' of object '{}' ({:#x}..{:#x}) in the same arena: the two objects would read and write each other's variables. Declare the same __arena variables in both, or give them separate arenas",
                        a.name,
                        a.at,
                        a.end(),
                        b.name,
                        other.object,
                        b.at,
                        b.end()
                    ),
                });
            }
        }
        if record && !claims.contains(claim) {
            claims.push(claim.clone());
        }
        Ok(())
    }
}
