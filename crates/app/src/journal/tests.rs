use super::*;

fn at(millis: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(millis).unwrap()
}

async fn append(journal: &Journal, body: &'static [u8]) -> Arc<Entry> {
    journal
        .append(7, at(1_700_000_000_123), Bytes::from_static(body), 1)
        .await
        .expect("appended")
}

fn replayed(replay: &Replay) -> Vec<Recorded> {
    (0..replay.segments())
        .flat_map(|i| replay.read(i).expect("readable"))
        .collect()
}

#[tokio::test]
async fn what_was_appended_is_read_back_after_a_restart_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let (journal, replay) = Journal::open(dir.path(), 1 << 20).unwrap();
    assert_eq!(replay.segments(), 0);
    append(&journal, b"first").await;
    append(&journal, b"second").await;
    let stream = replay.stream().to_owned();
    drop((journal, replay));

    let (_journal, replay) = Journal::open(dir.path(), 1 << 20).unwrap();
    assert_eq!(replay.stream(), stream, "the journal keeps its name");
    let records = replayed(&replay);
    let read: Vec<(u64, u8, &[u8])> = records
        .iter()
        .map(|r| (r.seq, r.kind, r.body.as_ref()))
        .collect();
    assert_eq!(read, [(1, 7, &b"first"[..]), (2, 7, &b"second"[..])]);
    assert_eq!(records[0].received, at(1_700_000_000_123));
}

#[tokio::test]
async fn a_segment_goes_once_every_record_in_it_is_stored() {
    let dir = tempfile::tempdir().unwrap();
    let (journal, replay) = Journal::open(dir.path(), 1 << 20).unwrap();
    append(&journal, b"one").await;
    append(&journal, b"two").await;
    drop((journal, replay));
    let (journal, replay) = Journal::open(dir.path(), 1 << 20).unwrap();
    let old = segment_files(dir.path()).unwrap();
    assert_eq!(old.len(), 1);
    let records = replayed(&replay);
    // New records go to a new segment, numbered on from the old ones.
    let fresh = append(&journal, b"three").await;
    assert_eq!(fresh.seq, 3);
    for record in &records {
        record.holds(1);
    }
    records[0].entry.stored(1);
    assert!(old[0].exists(), "one of its records is not stored yet");
    records[1].entry.stored(1);
    assert!(!old[0].exists(), "all of it is stored");
    assert_eq!(segment_files(dir.path()).unwrap().len(), 1);
    fresh.stored(1);
    assert_eq!(
        segment_files(dir.path()).unwrap().len(),
        1,
        "the segment being written stays"
    );
}

#[tokio::test]
async fn a_record_cut_short_by_a_crash_is_dropped_and_the_rest_kept() {
    let dir = tempfile::tempdir().unwrap();
    let (journal, replay) = Journal::open(dir.path(), 1 << 20).unwrap();
    append(&journal, b"whole").await;
    append(&journal, b"torn apart").await;
    drop((journal, replay));
    let segment = &segment_files(dir.path()).unwrap()[0];
    let data = fs::read(segment).unwrap();
    fs::write(segment, &data[..data.len() - 3]).unwrap();

    let (_journal, replay) = Journal::open(dir.path(), 1 << 20).unwrap();
    let records = replayed(&replay);
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].body.as_ref(), b"whole");
}

#[tokio::test]
async fn a_full_journal_refuses_until_what_it_holds_is_stored() {
    let dir = tempfile::tempdir().unwrap();
    let body = &[b'x'; 600];
    let (journal, _replay) = Journal::open(dir.path(), 1000).unwrap();
    let entry = journal
        .append(1, at(0), Bytes::from_static(body), 2)
        .await
        .unwrap();
    let refused = journal.append(1, at(0), Bytes::from_static(body), 1).await;
    assert!(matches!(refused, Err(JournalError::Full(_))), "{refused:?}");
    assert!(journal.bytes() > 600);
    entry.stored(1);
    assert!(journal.bytes() > 600, "half of it is stored");
    entry.stored(1);
    assert_eq!(journal.bytes(), 0);
    journal
        .append(1, at(0), Bytes::from_static(body), 1)
        .await
        .expect("room again");
}

#[test]
fn a_journal_serves_one_server() {
    let dir = tempfile::tempdir().unwrap();
    let _held = Journal::open(dir.path(), 1 << 20).unwrap();
    let err = Journal::open(dir.path(), 1 << 20).unwrap_err();
    assert!(matches!(err, JournalError::InUse(_)), "{err}");
    assert!(err.to_string().contains("--journal"), "{err}");
}

#[test]
fn servers_of_one_database_take_free_slots_and_the_next_takes_up_a_left_one() {
    let dir = tempfile::tempdir().unwrap();
    let place = JournalPlace::Slots(dir.path().to_owned());
    let (first, _) = Journal::open_at(&place, 1 << 20).unwrap().unwrap();
    let (second, _) = Journal::open_at(&place, 1 << 20).unwrap().unwrap();
    assert_eq!(first.shared.dir, dir.path().join("0"));
    assert_eq!(second.shared.dir, dir.path().join("1"));
    drop(first);
    let (third, _) = Journal::open_at(&place, 1 << 20).unwrap().unwrap();
    assert_eq!(third.shared.dir, dir.path().join("0"), "the slot left free");
    assert!(Journal::open_at(&JournalPlace::Off, 1).unwrap().is_none());
}
