//! Password hashing with argon2id at OWASP's parameters, off the async threads and bounded.

use std::sync::Arc;

use argon2::password_hash::{PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Params, PasswordHasher as _, Version};
use rand::rngs::OsRng;
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::Semaphore;

/// m = 19 MiB, t = 2, p = 1 (OWASP Password Storage Cheat Sheet).
const MEMORY_KIB: u32 = 19_456;
const ITERATIONS: u32 = 2;
const PARALLELISM: u32 = 1;

fn argon2() -> Argon2<'static> {
    let params = Params::new(MEMORY_KIB, ITERATIONS, PARALLELISM, None).expect("valid params");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Hashes and verifies passwords. At most one hash per core runs at a time, so a
/// burst of sign-ins costs bounded memory and leaves the async threads free.
#[derive(Clone)]
pub struct PasswordHasher {
    permits: Arc<Semaphore>,
    /// Verified against when the account is unknown, so both cases cost the same.
    dummy_hash: Arc<str>,
}

impl std::fmt::Debug for PasswordHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordHasher").finish_non_exhaustive()
    }
}

impl PasswordHasher {
    /// One hash per core at a time.
    pub fn new() -> Self {
        Self::with_concurrency(std::thread::available_parallelism().map_or(1, |n| n.get()))
    }

    /// At most `hashes` at a time (at least one): fewer than the cores leaves cores free
    /// for other requests during a storm of sign-ins, at the cost of its throughput.
    pub fn with_concurrency(hashes: usize) -> Self {
        let hashes = hashes.max(1);
        pool().grow_to(hashes);
        let dummy =
            hash_blocking("nidan dummy password, never valid").expect("argon2id hashing works");
        Self {
            permits: Arc::new(Semaphore::new(hashes)),
            dummy_hash: dummy.into(),
        }
    }

    /// Hashes the password's NFKC form (see [`normalised`]).
    pub async fn hash(&self, password: &SecretString) -> String {
        let password = password.clone();
        self.run(move || hash_blocking(&normalised(password.expose_secret())))
            .await
            .expect("argon2id hashing of a bounded password cannot fail")
    }

    /// `stored` is `None` for an unknown account: the dummy hash is checked instead
    /// and the answer is always `false`.
    #[tracing::instrument(skip_all)]
    pub async fn verify(&self, stored: Option<&str>, password: &SecretString) -> bool {
        let known = stored.is_some();
        let hash = stored.map_or_else(|| self.dummy_hash.to_string(), str::to_owned);
        let password = password.clone();
        let ok = self
            .run(move || {
                let typed = password.expose_secret();
                let form = normalised(typed);
                // A password set before nidan normalised them was hashed as typed: a second
                // hash, only for input that NFKC changes (unknown accounts alike).
                verify_blocking(&hash, &form) || (form != typed && verify_blocking(&hash, typed))
            })
            .await;
        known && ok
    }

    /// Other CPU-heavy work on a password (judging a new one), on the same threads and
    /// under the same bound as hashing.
    pub async fn run<T: Send + 'static>(&self, work: impl FnOnce() -> T + Send + 'static) -> T {
        let _permit = self
            .permits
            .acquire()
            .await
            .expect("semaphore is never closed");
        let (done, result) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            let _ = done.send(work());
        });
        pool()
            .jobs
            .send(job)
            .expect("the hashing threads live as long as the process");
        result.await.expect("hashing does not panic")
    }
}

impl Default for PasswordHasher {
    fn default() -> Self {
        Self::new()
    }
}

type Job = Box<dyn FnOnce() + Send>;

/// Threads that only hash, at a lower priority than everything else: a storm of sign-ins
/// gets the CPU that is left over, and forward-auth and the pages stay quick. There are as
/// many as the largest concurrency a hasher asked for (one per core by default).
struct Pool {
    jobs: crossbeam_channel::Sender<Job>,
    queue: crossbeam_channel::Receiver<Job>,
    threads: std::sync::Mutex<usize>,
}

fn pool() -> &'static Pool {
    static POOL: std::sync::OnceLock<Pool> = std::sync::OnceLock::new();
    POOL.get_or_init(|| {
        let (jobs, queue) = crossbeam_channel::unbounded::<Job>();
        Pool {
            jobs,
            queue,
            threads: std::sync::Mutex::new(0),
        }
    })
}

impl Pool {
    fn grow_to(&self, wanted: usize) {
        let mut threads = self.threads.lock().unwrap_or_else(|e| e.into_inner());
        while *threads < wanted {
            let queue = self.queue.clone();
            std::thread::Builder::new()
                .name("nidan-argon2".into())
                .spawn(move || hash_jobs(&queue))
                .expect("start a hashing thread");
            *threads += 1;
        }
    }
}

fn hash_jobs(queue: &crossbeam_channel::Receiver<Job>) {
    lower_priority();
    loop {
        // Busy: keep this thread's 19 MiB for the next hash. Idle for a second: give it
        // back, so that an idle server stays small.
        let job = match queue.recv_timeout(std::time::Duration::from_secs(1)) {
            Ok(job) => job,
            Err(crossbeam_channel::RecvTimeoutError::Timeout) => {
                release_memory();
                match queue.recv() {
                    Ok(job) => job,
                    Err(_) => return,
                }
            }
            Err(crossbeam_channel::RecvTimeoutError::Disconnected) => return,
        };
        job();
    }
}

/// SCHED_IDLE: the thread runs only on a core nothing else wants, and gives it up at once
/// when a request arrives. Under a storm of sign-ins alone it still gets every core.
#[cfg(target_os = "linux")]
fn lower_priority() {
    let param = libc::sched_param { sched_priority: 0 };
    // SAFETY: sched_setscheduler reads `param` only; on Linux pid 0 names the calling
    // thread alone.
    if unsafe { libc::sched_setscheduler(0, libc::SCHED_IDLE, &param) } != 0 {
        // A sandbox may refuse it (a system-call filter without @resources): hashing then
        // runs at normal priority, which is slower for other requests under a storm of
        // sign-ins but otherwise the same. Said once, not once per thread.
        static SAID: std::sync::Once = std::sync::Once::new();
        let error = std::io::Error::last_os_error();
        SAID.call_once(|| {
            tracing::warn!(
                %error,
                "password hashing runs at normal priority: the system refused SCHED_IDLE"
            );
        });
    }
}

#[cfg(not(target_os = "linux"))]
fn lower_priority() {}

/// The form a password is hashed in: NFKC (NIST SP 800-63B 5.1.1.2), so that the same
/// password typed with another keyboard or input method (full-width letters and digits,
/// composed or decomposed kana) is the same password.
pub fn normalised(password: &str) -> std::borrow::Cow<'_, str> {
    use unicode_normalization::{IsNormalized, UnicodeNormalization, is_nfkc_quick};
    match is_nfkc_quick(password.chars()) {
        IsNormalized::Yes => std::borrow::Cow::Borrowed(password),
        _ => std::borrow::Cow::Owned(password.nfkc().collect()),
    }
}

/// argon2id at nidan's parameters on this thread (the load scripts' baseline calls it raw).
pub fn hash_blocking(password: &str) -> Result<String, argon2::password_hash::Error> {
    let salt = SaltString::generate(&mut OsRng);
    Ok(argon2()
        .hash_password(password.as_bytes(), &salt)?
        .to_string())
}

thread_local! {
    /// argon2's working memory, kept between hashes on this thread: a fresh 19 MiB for
    /// every hash costs page faults worth half a hash.
    static MEMORY: std::cell::RefCell<Vec<argon2::Block>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Frees this thread's argon2 working memory.
pub fn release_memory() {
    MEMORY.with(|m| *m.borrow_mut() = Vec::new());
}

/// Checks `password` against a PHC string on this thread, in this thread's working memory.
pub fn verify_blocking(hash: &str, password: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(hash) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
        return false;
    };
    let Ok(algorithm) = Algorithm::try_from(parsed.algorithm) else {
        return false;
    };
    let version = match parsed.version.map(Version::try_from).transpose() {
        Ok(v) => v.unwrap_or_default(),
        Err(_) => return false,
    };
    let Ok(params) = Params::try_from(&parsed) else {
        return false;
    };
    let mut salt_bytes = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_bytes) else {
        return false;
    };
    let blocks = params.block_count();
    let mut out = vec![0u8; expected.len()];
    let hashed = MEMORY.with(|memory| {
        let mut memory = memory.borrow_mut();
        if memory.len() < blocks {
            memory.resize(blocks, argon2::Block::default());
        }
        Argon2::new(algorithm, version, params).hash_password_into_with_memory(
            password.as_bytes(),
            salt,
            &mut out,
            &mut memory[..blocks],
        )
    });
    hashed.is_ok() && super::ct_eq(&out, expected.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(s: &str) -> SecretString {
        SecretString::from(s.to_owned())
    }

    #[tokio::test]
    async fn passwords_compare_in_nfkc_form_and_hashes_made_before_still_work() {
        let hasher = PasswordHasher::new();
        // Full-width letters and digits, as a Japanese input method may type them.
        let typed = "ｎｅｋｏ　ｎｏ　ｈｉｔａｉ１２";
        let hash = hasher.hash(&secret(typed)).await;
        assert!(hasher.verify(Some(&hash), &secret(typed)).await);
        assert!(hasher.verify(Some(&hash), &secret("neko no hitai12")).await);
        assert!(!hasher.verify(Some(&hash), &secret("neko no hitai13")).await);
        // A hash of the password as typed, before nidan normalised passwords.
        let before = hash_blocking(typed).unwrap();
        assert!(hasher.verify(Some(&before), &secret(typed)).await);
        assert!(!hasher.verify(Some(&before), &secret("ｎｅｋｏ")).await);
        assert_eq!(normalised("plain ascii"), "plain ascii");
        assert!(matches!(
            normalised("plain ascii"),
            std::borrow::Cow::Borrowed(_)
        ));
    }

    #[tokio::test]
    async fn hashes_with_owasp_parameters_and_verifies() {
        let hasher = PasswordHasher::new();
        let hash = hasher.hash(&secret("correct horse")).await;
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
        assert!(hasher.verify(Some(&hash), &secret("correct horse")).await);
        assert!(!hasher.verify(Some(&hash), &secret("correct horsE")).await);
        assert!(!hasher.verify(Some("not a phc string"), &secret("x")).await);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn no_more_hashes_run_at_once_than_the_bound() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        // Other tests of this process may have grown the pool past one thread.
        pool().grow_to(3);
        let hasher = PasswordHasher::with_concurrency(1);
        let (running, most) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let jobs = (0..4).map(|_| {
            let (hasher, running, most) = (hasher.clone(), running.clone(), most.clone());
            tokio::spawn(async move {
                hasher
                    .run(move || {
                        let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                        most.fetch_max(now, Ordering::SeqCst);
                        std::thread::sleep(std::time::Duration::from_millis(20));
                        running.fetch_sub(1, Ordering::SeqCst);
                    })
                    .await
            })
        });
        for job in jobs.collect::<Vec<_>>() {
            job.await.unwrap();
        }
        assert_eq!(most.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn reused_memory_verifies_as_argon2_itself_does() {
        use argon2::PasswordVerifier as _;
        // Other parameters than ours (an older hash, say) and ours, right and wrong.
        let small = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(8, 1, 1, None).unwrap(),
        );
        let salt = SaltString::generate(&mut OsRng);
        let other = small.hash_password(b"pw one", &salt).unwrap().to_string();
        let ours = hash_blocking("pw two").unwrap();
        for (hash, right, wrong) in [(&other, "pw one", "pw two"), (&ours, "pw two", "pw one")] {
            let parsed = PasswordHash::new(hash).unwrap();
            let reference = Argon2::default().verify_password(right.as_bytes(), &parsed);
            assert!(reference.is_ok(), "argon2 itself accepts {hash}");
            assert!(verify_blocking(hash, right), "{hash}");
            assert!(!verify_blocking(hash, wrong), "{hash}");
        }
        // The same thread again after a larger hash, and after its memory went back.
        assert!(verify_blocking(&other, "pw one"));
        release_memory();
        assert!(verify_blocking(&ours, "pw two"));
        assert!(!verify_blocking("$argon2id$v=19$m=8,t=1,p=1$bad", "x"));
    }

    #[tokio::test]
    async fn unknown_account_never_verifies_even_with_the_dummy_password() {
        let hasher = PasswordHasher::new();
        assert!(
            !hasher
                .verify(None, &secret("nidan dummy password, never valid"))
                .await
        );
    }
}
