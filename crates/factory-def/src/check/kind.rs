//! `[kind.NAME]`: a kind may not take a built-in kind's name, and its templates may use
//! only the parameters it declares.

use super::Checker;
use super::placeholders::Scope;
use crate::diag::{Diagnostic, ErrorCode};
use crate::model::BuiltinKind;
use crate::wire::{RawDefinition, RawKind};

impl Checker<'_> {
    pub(super) fn builtin_kind_names(&mut self, raw: &RawDefinition) {
        for kind in &raw.kinds {
            if BuiltinKind::from_name(&kind.name.value).is_some() {
                let d = Diagnostic::new(
                    ErrorCode::Duplicate,
                    format!("kind `{}` is built in and cannot be redefined", kind.name.value),
                )
                .at(self.sources.location(&kind.name.at))
                .label("built-in kind")
                .help("give your kind another name, e.g. `my-deb`; the built-in kinds are `command`, `deb`, `oci-image` and `tarball`");
                self.push(d);
            }
        }
    }

    pub(super) fn check_kind(&mut self, kind: &RawKind) {
        let scope = Scope {
            params: kind.params.iter().map(|(k, _)| k.value.as_str()).collect(),
            deps: None,
            has_source: None,
            owner: format!("kind `{}`", kind.name.value),
            param_hint: "declare it with a default in the kind",
        };
        for command in &kind.commands {
            self.template(command, &scope);
        }
        for (_, value) in &kind.env {
            self.template(value, &scope);
        }
    }
}
