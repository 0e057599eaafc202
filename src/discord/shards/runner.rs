//! The shards of one plan, running: one task per shard drives it (twilight
//! does the protocol: heartbeats, identify through the shared queue,
//! resume, reconnect) and forwards what it reads, tagged with the shard,
//! into one channel the bot reads in order. Commands about a guild go to
//! the shard that owns it, through that shard's sender, so the bot never
//! needs a shard itself. Dropping the runner stops every shard (a restart
//! with another plan, or the end of the bot).

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::mpsc;
use twilight_gateway::error::ReceiveMessageError;
use twilight_gateway::{Command, Config, Message, MessageSender, Shard, ShardId};

use crate::Handle;

use super::queue::IdentifyQueue;
use super::{shard_of, Plan, ShardStatus};

/// How often a shard's state is read while no message comes (twilight
/// reconnects silently after a dropped connection).
const STATE_CHECK_EVERY: Duration = Duration::from_millis(250);

/// One thing a shard read.
pub(crate) struct ShardMessage {
    pub(crate) shard: u32,
    pub(crate) item: Result<Message, ReceiveMessageError>,
}

/// The running shards of a plan.
pub(crate) struct Runner {
    plan: Plan,
    /// Each shard's command sender, by `id - plan.ids.start`.
    senders: Vec<MessageSender>,
    tasks: Vec<actix_web::rt::task::JoinHandle<()>>,
    messages: mpsc::UnboundedReceiver<ShardMessage>,
}

impl Runner {
    /// Starts every shard of `plan` with `config` (its queue included).
    pub(crate) fn start(
        plan: Plan,
        config: &Config<IdentifyQueue>,
        status: &Arc<ShardStatus>,
        handle: &Handle,
    ) -> Runner {
        let (tx, messages) = mpsc::unbounded_channel();
        let mut senders = Vec::new();
        let mut tasks = Vec::new();
        for id in plan.ids.clone() {
            let shard = Shard::with_config(ShardId::new(id, plan.total), config.clone());
            senders.push(shard.sender());
            tasks.push(actix_web::rt::spawn(drive(
                shard,
                tx.clone(),
                status.clone(),
                handle.clone(),
            )));
        }
        Runner {
            plan,
            senders,
            tasks,
            messages,
        }
    }

    pub(crate) fn plan(&self) -> &Plan {
        &self.plan
    }

    /// The next message of any shard, in the order each shard read them.
    pub(crate) async fn next(&mut self) -> Option<ShardMessage> {
        self.messages.recv().await
    }

    /// Sends `command` on the shard that owns `guild`; false when that
    /// shard does not run here or has stopped.
    pub(crate) fn command_for(&self, guild: u64, command: &impl Command) -> bool {
        let shard = shard_of(guild, self.plan.total);
        if !self.plan.runs(shard) {
            return false;
        }
        let sender = &self.senders[(shard - self.plan.ids.start) as usize];
        sender.command(command).is_ok()
    }
}

impl Drop for Runner {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// One shard: read, note its state, forward.
async fn drive(
    mut shard: Shard<IdentifyQueue>,
    out: mpsc::UnboundedSender<ShardMessage>,
    status: Arc<ShardStatus>,
    handle: Handle,
) {
    let id = shard.id().number();
    let mut watch = tokio::time::interval(STATE_CHECK_EVERY);
    loop {
        let item = tokio::select! {
            item = shard.next() => item,
            _ = watch.tick() => {
                status.set(id, shard.state(), handle.metrics());
                continue;
            }
        };
        status.set(id, shard.state(), handle.metrics());
        let Some(item) = item else { break };
        if out.send(ShardMessage { shard: id, item }).is_err() {
            break;
        }
    }
}
