//! [`InProcessLocator`]: clients living in the same process as the registry (the coordinator
//! inside `tarsd`) resolve object names straight from the registry state, with metadata,
//! without a network round trip.

use std::sync::Arc;

use tars::client::{CallError, Locator};
use tars_protocols::tarsrs::{Instance, InstanceFilter};

use crate::registry::Registry;

/// A [`Locator`] reading the registry of this process.
#[derive(Debug, Clone)]
pub struct InProcessLocator {
    registry: Arc<Registry>,
}

impl InProcessLocator {
    /// A locator over `registry`.
    pub fn new(registry: Arc<Registry>) -> InProcessLocator {
        InProcessLocator { registry }
    }
}

impl Locator for InProcessLocator {
    fn locate(&self, object: &str) -> Result<Vec<Instance>, CallError> {
        Ok(self.registry.list(&InstanceFilter {
            obj_name: object.into(),
            include_inactive: false,
            ..InstanceFilter::default()
        }))
    }
}
