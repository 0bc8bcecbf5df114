//! A decoded push becomes the writer's command here, validated on the I/O thread that decoded
//! it when it can be (decision 0029): the writer then only checks that the registry it was
//! validated against is still the current one.

use compact_str::CompactString;
use engine::Prevalidation;
use model::Value;
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
    /// The command for a push that `decode` decodes (into the event name and body). `decode`
    /// runs a second time, on the same bytes, when the push is refused against this
    /// connection's registry: the writer then answers from the body as it was pushed.
    pub(crate) fn command<E>(
        &mut self,
        store: &StoreHandle,
        sync: bool,
        mut decode: impl FnMut(&mut PushNameCache) -> Result<(CompactString, Value), E>,
    ) -> Result<Command, E> {
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
