//! A decoded push becomes the writer's command here, validated on the I/O thread that decoded
//! it when it can be (decision 0029): the writer then only checks that the registry it was
//! validated against is still the current one.

use compact_str::CompactString;
use engine::Prevalidation;
use model::{RowSchema, Value};
use protocol::push_envelope::{SchemaOf, SlottedPush};
use protocol::PushNameCache;
use store::{Command, PushValidator, StoreHandle};

/// What a connection keeps between pushes: the names it pushed last and the registry it
/// validates against.
#[derive(Debug, Default)]
pub(crate) struct PushDecoding {
    names: PushNameCache,
    validator: PushValidator,
}

impl PushDecoding {
    /// The command for a push. `slotted` tries the direct decoder into the event's slots (the
    /// common case); when it declines, `decode` decodes the push into its event name and member
    /// map, which is validated here if it can be. `decode` runs a second time, on the same
    /// bytes, when the push is refused against this connection's registry: the writer then
    /// answers from the body as it was pushed.
    pub(crate) fn command<E>(
        &mut self,
        store: &StoreHandle,
        sync: bool,
        slotted: impl FnOnce(&SchemaOf<'_>) -> Option<SlottedPush>,
        mut decode: impl FnMut(&mut PushNameCache) -> Result<(CompactString, Value), E>,
    ) -> Result<Command, E> {
        let registry = self.validator.registry(store);
        let schema_of = |name: &str| -> Option<(usize, &RowSchema)> {
            let &event_id = registry.event_by_name.get(name)?;
            Some((event_id, &registry.events[event_id].schema))
        };
        if let Some(push) = slotted(&schema_of) {
            if let Some(push) =
                engine::push::prevalidate_slots(registry, push.event_id, push.fields)
            {
                return Ok(Command::Prevalidated { push, sync });
            }
        }
        let (event, body) = decode(&mut self.names)?;
        let body = match self.validator.prevalidate(store, &event, body) {
            Prevalidation::Accepted(push) => return Ok(Command::Prevalidated { push, sync }),
            Prevalidation::LeftToWriter(Some(body)) => body,
            Prevalidation::LeftToWriter(None) => decode(&mut self.names)?.1,
        };
        Ok(if sync {
            Command::PushSync {
                event,
                fields: body,
            }
        } else {
            Command::Push {
                event,
                fields: body,
            }
        })
    }
}
