//! `[hook.NAME]`: the components a hook is about exist. (Its topics, action and limits are
//! values, checked where they are read.)

use super::Checker;
use crate::wire::RawHook;

impl Checker<'_> {
    pub(super) fn check_hook(&mut self, hook: &RawHook) {
        for component in &hook.components {
            self.component_ref(component);
        }
    }
}
