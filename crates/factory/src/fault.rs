//! Who is at fault for the error a command ends with, which decides its exit code.

use factory_types::{Fault, HasFault};

/// The fault of the first error in the chain that knows its own; an error the binary made
/// itself (an unknown name, a missing store) is the input's.
pub(crate) fn of(error: &anyhow::Error) -> Fault {
    error.chain().find_map(known_fault).unwrap_or(Fault::Input)
}

fn known_fault(error: &(dyn std::error::Error + 'static)) -> Option<Fault> {
    macro_rules! try_as {
        ($($ty:ty),*) => {
            $(if let Some(e) = error.downcast_ref::<$ty>() { return Some(e.fault()); })*
        };
    }
    try_as!(
        factory_engine::EngineError,
        factory_engine::RecipeError,
        factory_store::StoreError,
        factory_exec::ExecError,
        factory_types::TaskPanicked,
        factory_server::ServerError,
        factory_sign::SignError,
        crate::cmd::engine::BuildsFailed,
        crate::cmd::token::NoRandomness
    );
    None
}
