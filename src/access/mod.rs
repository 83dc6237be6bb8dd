//! Who sees what. One [`View`] decides, in one place, which layers, attributes and
//! features a caller gets; every route asks it. The public view is fixed: it sees
//! public layers, non-internal attributes and publicly filtered features, whatever the
//! caller sends.

pub mod keys;

use std::collections::BTreeSet;

use crate::config::{Access, LayerDef};
use crate::store::{Feature, FieldDef};

/// The role that sees every layer and attribute.
pub const ADMIN_ROLE: &str = "admin";

/// An authenticated internal caller.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Principal {
    /// The key's name (for the audit log), never the key.
    pub name: String,
    pub roles: BTreeSet<String>,
}

impl Principal {
    #[must_use]
    pub fn is_admin(&self) -> bool {
        self.roles.contains(ADMIN_ROLE)
    }
}

/// The caller's view of the data.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum View {
    /// 公開型GIS: anonymous, public layers and attributes only.
    Public,
    /// 統合型GIS: a staff member with roles.
    Internal(Principal),
}

impl View {
    /// Whether the caller may know the layer exists.
    #[must_use]
    pub fn sees_layer(&self, def: &LayerDef) -> bool {
        match (&def.access, self) {
            (Access::Public, _) => true,
            (Access::Internal { .. }, View::Public) => false,
            (Access::Internal { roles }, View::Internal(p)) => {
                p.is_admin() || roles.iter().any(|r| p.roles.contains(r))
            }
        }
    }

    /// Whether the caller sees an attribute of a layer it sees.
    #[must_use]
    pub fn sees_field(&self, def: &LayerDef, field: &FieldDef) -> bool {
        match self {
            View::Public => def.is_public() && !field.internal,
            View::Internal(_) => self.sees_layer(def),
        }
    }

    /// Whether the caller sees a feature of a layer it sees.
    #[must_use]
    pub fn sees_feature(&self, feature: &Feature) -> bool {
        match self {
            View::Public => feature.public,
            View::Internal(_) => true,
        }
    }

    #[must_use]
    pub fn is_public(&self) -> bool {
        matches!(self, View::Public)
    }

    /// What this view's content depends on: callers with the same key see the same
    /// layers, attributes and features, so they may share cached tiles — and callers with
    /// different keys never do.
    #[must_use]
    pub fn key(&self) -> ViewKey {
        match self {
            View::Public => ViewKey::Public,
            View::Internal(p) if p.is_admin() => ViewKey::Admin,
            View::Internal(p) => ViewKey::Roles(p.roles.iter().cloned().collect()),
        }
    }
}

/// The part of a [`View`] that decides content (not the key's name).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ViewKey {
    Public,
    Admin,
    Roles(Box<[String]>),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn internal(roles: &[&str]) -> View {
        View::Internal(Principal {
            name: "n".into(),
            roles: roles.iter().map(|r| (*r).to_string()).collect(),
        })
    }

    #[test]
    fn view_keys_separate_content() {
        assert_ne!(View::Public.key(), internal(&["doro-kanri"]).key());
        assert_ne!(
            internal(&["doro-kanri"]).key(),
            internal(&["kiki-kanri"]).key()
        );
        assert_eq!(internal(&["admin", "x"]).key(), internal(&["admin"]).key());
        assert_eq!(internal(&["a", "b"]).key(), internal(&["b", "a"]).key());
    }
}
