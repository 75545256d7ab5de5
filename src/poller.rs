//! One task per PPDM server: poll on schedule, retry with backoff, publish snapshots.
//!
//! A poll reads every page of `GET /api/v2/storage-systems` through the server's
//! [`Session`] and records the result in the [`Store`]. Between polls the task
//! refreshes the access token when it falls due. It never touches HTTP serving.

use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use tokio::sync::Semaphore;
use tokio::time::{Instant, sleep, sleep_until};
use tokio_util::sync::CancellationToken;

use crate::ppdm::model::StorageSystemsPage;
use crate::ppdm::{PpdmError, Session};
use crate::snapshot::{Snapshot, SnapshotBuilder};
use crate::store::Store;

/// Most pages read in one poll; past this PPDM is assumed to be paging forever.
pub const MAX_PAGES: u32 = 1_000;

/// First delay before retrying a transient failure within a poll.
const RETRY_BASE: Duration = Duration::from_secs(1);

/// Longest wait after a refused login before trying again.
const MAX_AUTH_BACKOFF: Duration = Duration::from_secs(3600);

/// What a poller needs to know of its server.
#[derive(Debug, Clone)]
pub struct PollSettings {
    /// The `server` label.
    pub server: String,
    /// Time between polls.
    pub interval: Duration,
    /// Time limit of one request, used to keep retries inside the interval.
    pub timeout: Duration,
    /// Storage systems per page.
    pub page_size: u32,
}

/// The polling task of one server.
pub struct Poller {
    settings: PollSettings,
    session: Arc<Session>,
    store: Arc<Store>,
    limiter: Arc<Semaphore>,
    auth_backoff: Option<Duration>,
    last_problem: Option<String>,
}

impl Poller {
    /// Creates the task; [`Poller::run`] starts it.
    pub fn new(
        settings: PollSettings,
        session: Arc<Session>,
        store: Arc<Store>,
        limiter: Arc<Semaphore>,
    ) -> Poller {
        Poller {
            settings,
            session,
            store,
            limiter,
            auth_backoff: None,
            last_problem: None,
        }
    }

    /// Polls until `shutdown` is cancelled, then logs out. A poll in progress is
    /// abandoned at shutdown; a poll never runs longer than the interval.
    pub async fn run(mut self, shutdown: CancellationToken) {
        let jitter = start_jitter(self.settings.interval);
        if !self.wait_until(Instant::now() + jitter, &shutdown).await {
            return;
        }
        loop {
            let started = Instant::now();
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = self.poll_and_record(started) => {}
            }
            let next = started + self.auth_backoff.unwrap_or(self.settings.interval);
            if !self.wait_until(next, &shutdown).await {
                break;
            }
        }
        match self.session.logout().await {
            Some(true) => tracing::info!(server = %self.settings.server, "logged out"),
            Some(false) => tracing::warn!(server = %self.settings.server,
                "logout failed; the session ends when its tokens expire"),
            None => {}
        }
    }

    /// Sleeps until `deadline`, refreshing the token when due. False on shutdown.
    async fn wait_until(&self, deadline: Instant, shutdown: &CancellationToken) -> bool {
        loop {
            let refresh = self.session.refresh_due().filter(|due| *due < deadline);
            tokio::select! {
                () = shutdown.cancelled() => return false,
                () = sleep_until(deadline) => return true,
                () = sleep_until(refresh.unwrap_or(deadline)), if refresh.is_some() => {
                    if let Err(error) = self.session.refresh_if_due().await {
                        tracing::warn!(server = %self.settings.server, error = %error.chain(),
                            "token renewal between polls failed; the next poll will retry");
                    }
                    self.store.touch();
                }
            }
        }
    }

    async fn poll_and_record(&mut self, started: Instant) {
        let result = {
            let _permit = self.limiter.acquire().await;
            let limit = self.settings.interval;
            tokio::time::timeout(limit, self.poll_with_retries(started))
                .await
                .unwrap_or(Err(PpdmError::PollTimeout(limit)))
        };
        let duration = started.elapsed();
        match result {
            Ok(snapshot) => {
                self.note_recovery();
                tracing::debug!(server = %self.settings.server, systems = snapshot.systems.len(),
                    seconds = duration.as_secs_f64(), "poll done");
                self.store
                    .record_success(&self.settings.server, snapshot, duration);
            }
            Err(error) => {
                self.note_failure(&error);
                self.store
                    .record_failure(&self.settings.server, &error, duration);
            }
        }
    }

    /// One poll, retrying transient failures with jittered exponential backoff while
    /// the retry still ends before the next scheduled poll.
    async fn poll_with_retries(&self, started: Instant) -> Result<Snapshot, PpdmError> {
        let deadline = started + self.settings.interval.saturating_sub(self.settings.timeout);
        let mut attempt = 0;
        loop {
            let error = match poll_once(&self.session, self.settings.page_size).await {
                Ok(snapshot) => return Ok(snapshot),
                Err(error) => error,
            };
            let delay = backoff_delay(attempt, self.settings.interval);
            if !error.is_transient() || Instant::now() + delay >= deadline {
                return Err(error);
            }
            tracing::debug!(server = %self.settings.server, error = %error.chain(),
                retry_in = ?delay, "poll attempt failed, retrying");
            sleep(delay).await;
            attempt += 1;
        }
    }

    fn note_failure(&mut self, error: &PpdmError) {
        if error.is_login_refusal() {
            let next = self.auth_backoff.map_or(self.settings.interval, |d| d * 2);
            self.auth_backoff = Some(next.min(MAX_AUTH_BACKOFF.max(self.settings.interval)));
        } else {
            self.auth_backoff = None;
        }
        let problem = error.to_string();
        let retry_in =
            humantime::format_duration(self.auth_backoff.unwrap_or(self.settings.interval));
        if self.last_problem.as_ref() != Some(&problem) {
            tracing::warn!(server = %self.settings.server, error = %error.chain(),
                next_poll_in = %retry_in, "poll failed");
        } else {
            tracing::debug!(server = %self.settings.server, error = %error.chain(),
                next_poll_in = %retry_in, "poll failed again");
        }
        self.last_problem = Some(problem);
    }

    fn note_recovery(&mut self) {
        if self.last_problem.take().is_some() {
            tracing::info!(server = %self.settings.server, "poll succeeded again");
        }
        self.auth_backoff = None;
    }
}

/// Reads every page of storage systems into a snapshot.
///
/// Paging starts at 1 and stops at `page.totalPages`, at an empty page, or fails after
/// [`MAX_PAGES`]. A page without paging information is taken as the only page. When
/// `totalPages` changes between pages the list changed while it was read; the poll
/// fails (as a transient error, so it is retried) rather than export a partial list.
///
/// # Errors
///
/// Any failure of any page fails the whole poll; malformed items only skip themselves.
pub async fn poll_once(session: &Session, page_size: u32) -> Result<Snapshot, PpdmError> {
    let mut builder = SnapshotBuilder::default();
    let mut first_total = None;
    for page in 1..=MAX_PAGES {
        let path = format!("/api/v2/storage-systems?page={page}&pageSize={page_size}");
        let body = session.get(&path).await?;
        let decoded: StorageSystemsPage =
            serde_json::from_slice(&body).map_err(|source| PpdmError::Decode {
                path: "/api/v2/storage-systems".to_owned(),
                source,
            })?;
        let items = decoded.content.unwrap_or_default();
        for raw in &items {
            builder.add_raw(raw);
        }
        let total_pages = decoded.page.and_then(|info| info.total_pages).unwrap_or(1);
        let first = *first_total.get_or_insert(total_pages);
        if total_pages != first {
            return Err(PpdmError::PagingChanged {
                first,
                now: total_pages,
            });
        }
        if items.is_empty() || u64::from(page) >= total_pages {
            return Ok(builder.finish());
        }
    }
    Err(PpdmError::TooManyPages(MAX_PAGES))
}

/// Delay before retry number `attempt` (0-based): full jitter over an exponential
/// bound, capped at a quarter of the interval.
pub fn backoff_delay(attempt: u32, interval: Duration) -> Duration {
    let bound = RETRY_BASE
        .saturating_mul(2u32.saturating_pow(attempt))
        .min(interval / 4)
        .max(Duration::from_millis(100));
    let millis = u64::try_from(bound.as_millis()).unwrap_or(u64::MAX);
    Duration::from_millis(rand::rng().random_range(millis / 2..=millis))
}

/// A random delay before a server's first poll, so many servers do not log in at the
/// same instant: up to a tenth of the interval, at most 5 s.
fn start_jitter(interval: Duration) -> Duration {
    let bound = (interval / 10).min(Duration::from_secs(5));
    let millis = u64::try_from(bound.as_millis()).unwrap_or(0);
    Duration::from_millis(rand::rng().random_range(0..=millis))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_stays_within_a_quarter_of_the_interval() {
        let interval = Duration::from_secs(60);
        for attempt in 0..20 {
            let delay = backoff_delay(attempt, interval);
            let bound = Duration::from_secs(1 << attempt.min(10)).min(interval / 4);

            assert!(delay <= bound, "attempt {attempt}: {delay:?} > {bound:?}");
            assert!(
                delay >= bound / 2,
                "attempt {attempt}: {delay:?} < half of {bound:?}"
            );
        }
    }

    #[test]
    fn start_jitter_is_bounded_by_five_seconds() {
        for _ in 0..100 {
            assert!(start_jitter(Duration::from_secs(300)) <= Duration::from_secs(5));
            assert!(start_jitter(Duration::from_secs(2)) <= Duration::from_millis(200));
        }
    }
}
