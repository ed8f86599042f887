//! Properties of the template miner on arbitrary input.

use ic_core::miner::{Miner, MinerConfig};
use proptest::prelude::*;

/// Messages that look like logs: words, numbers, punctuation, quotes, some non-ASCII.
fn message() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[a-z]{1,8}( [a-z0-9=:,\\.\"\\(\\)\\[\\]/-]{1,10}){0,12}",
        "(user|conn|db|err) [a-c]{1,3}=[0-9]{1,4}( [a-c]{1,2})?",
    ]
}

proptest! {
    #[test]
    fn add_never_panics_and_is_deterministic(messages in prop::collection::vec(message(), 1..60)) {
        let mut miner = Miner::new(MinerConfig::default());
        for message in &messages {
            let id = miner.add(message);
            prop_assert!(miner.template(id).is_some());
            // The same message at once again maps to the same template.
            prop_assert_eq!(miner.add(message), id);
        }
    }

    #[test]
    fn cluster_count_never_exceeds_the_limit(
        messages in prop::collection::vec(message(), 1..120),
        max_clusters in 1usize..8,
    ) {
        let config = MinerConfig { max_clusters, ..MinerConfig::default() };
        let mut miner = Miner::new(config);
        for message in &messages {
            let id = miner.add(message);
            prop_assert!(miner.len() <= max_clusters);
            prop_assert!(miner.template(id).is_some(), "the id just given is kept");
        }
        prop_assert_eq!(miner.templates().count(), miner.len());
    }

    #[test]
    fn tiny_limits_hold(message in message(), max_tokens in 1usize..4, max_word_len in 1usize..4) {
        let config = MinerConfig { max_tokens, max_word_len, ..MinerConfig::default() };
        let mut miner = Miner::new(config);
        let id = miner.add(&message);
        prop_assert_eq!(miner.add(&message), id);
    }
}

#[test]
fn a_merged_template_id_keeps_naming_its_messages_template() {
    let mut miner = Miner::new(MinerConfig::default());
    let names = ["alice", "bob", "carol", "dave", "erin", "frank"];
    let ids: Vec<_> = names
        .iter()
        .map(|name| miner.add(&format!("session closed for user {name} on console")))
        .collect();
    assert_ne!(ids[0], ids[1], "a few values are wording at first");
    let last = *ids.last().unwrap();
    let general = miner.template(last).unwrap();
    assert!(general.contains("<*>"), "{general}");
    for id in &ids {
        assert_eq!(miner.resolve(*id), Some(last), "{id}");
        assert_eq!(miner.template(*id).as_deref(), Some(general.as_str()));
    }
}

#[test]
fn a_word_two_events_swap_at_once_is_a_variable_of_both() {
    let mut miner = Miner::new(MinerConfig::default());
    let (mut opened, mut closed) = (Vec::new(), Vec::new());
    for name in ["cyrus", "cyrus", "news", "test"] {
        opened.push(miner.add(&format!("session opened for user {name} by uid=0")));
        closed.push(miner.add(&format!("session closed for user {name}")));
    }
    // `news` after `cyrus` in the first event alone could be wording; the second event
    // swapping the same two words right after shows they are a user's names.
    assert_ne!(opened[2], opened[0]);
    assert_eq!(closed[2], closed[0]);
    assert_eq!(closed[3], closed[0]);
    assert_eq!(opened[3], opened[0]);
    assert_eq!(miner.resolve(opened[2]), Some(opened[0]));
    assert_eq!(
        miner.template(opened[0]).unwrap(),
        "session opened for user <*> by uid=<*>"
    );
    assert_eq!(
        miner.template(closed[0]).unwrap(),
        "session closed for user <*>"
    );
}

#[test]
fn a_variable_first_word_does_not_split_an_event_by_branch() {
    let mut miner = Miner::new(MinerConfig::default());
    let programs = [
        "alpha.bin",
        "beta.bin",
        "gamma.bin",
        "delta.bin",
        "kappa.bin",
        "sigma.bin",
    ];
    let mut opened = Vec::new();
    for (i, program) in programs.iter().cycle().take(24).enumerate() {
        opened.push(miner.add(&format!(
            "{program} - link to 10.0.0.{i}:80 opened via gateway"
        )));
        miner.add(&format!("{program} - link closed, {i} bytes sent"));
    }
    // The first word routes the first messages to branches of their own; once it has taken
    // more values than wording does, every program's messages share one template.
    let general = *opened.last().unwrap();
    assert_eq!(
        miner.template(general).unwrap(),
        "<*> - link to <*>:<*> opened via gateway"
    );
    for id in &opened {
        assert_eq!(miner.resolve(*id), miner.resolve(general), "{id}");
    }
    assert!(opened[programs.len()..].iter().all(|&id| id == general));
}

#[test]
fn a_list_of_any_length_is_one_value() {
    let mut miner = Miner::new(MinerConfig::default());
    let one = miner.add("ask 10.0.0.1:50010 to delete blk_1");
    let three = miner.add("ask 10.0.0.2:50010 to delete blk_2 blk_3 blk_4");
    assert_eq!(one, three);
    assert_eq!(miner.template(one).unwrap(), "ask <*>:<*> to delete <*>");
    // Lists that always hold as many values print each one.
    let fixed = miner.add("upload time=1,2,3 done");
    assert_eq!(miner.add("upload time=4,5,6 done"), fixed);
    assert_eq!(
        miner.template(fixed).unwrap(),
        "upload time=<*>,<*>,<*> done"
    );
}

#[test]
fn wording_two_events_swap_at_once_stays_apart_when_the_stream_knows_the_words() {
    let mut miner = Miner::new(MinerConfig::default());
    // `closed` is already wording of another template, unlike a user name seen first.
    miner.add("connection to peer closed by remote end");
    let link_opened = miner.add("database link to primary opened");
    let link_closed = miner.add("database link to primary closed");
    let cache_opened = miner.add("cache session for worker opened now");
    let cache_closed = miner.add("cache session for worker closed now");
    assert_ne!(miner.resolve(link_opened), miner.resolve(link_closed));
    assert_ne!(miner.resolve(cache_opened), miner.resolve(cache_closed));
    assert_eq!(
        miner.template(cache_closed).unwrap(),
        "cache session for worker closed now"
    );
}

#[test]
fn wording_one_event_swaps_stays_apart() {
    let mut miner = Miner::new(MinerConfig::default());
    let bytes = miner.add("Block rdd_1 stored as bytes in memory");
    let other = miner.add("Connection to peer opened after retry");
    let values = miner.add("Block rdd_2 stored as values in memory");
    assert_ne!(bytes, values);
    assert_eq!(miner.add("Block rdd_3 stored as bytes in memory"), bytes);
    assert_eq!(miner.add("Block rdd_4 stored as values in memory"), values);
    assert_eq!(miner.add("Connection to peer opened after retry"), other);
}

#[test]
fn an_empty_value_prints_empty_until_a_message_gives_it_one() {
    let mut miner = Miner::new(MinerConfig::default());
    let first = miner.add("auth failure; logname= uid=0 tty=ssh");
    assert_eq!(
        miner.template(first).unwrap(),
        "auth failure; logname= uid=<*> tty=ssh"
    );
    assert_eq!(miner.add("auth failure; logname= uid=7 tty=ssh"), first);
    assert_eq!(miner.add("init() ok"), miner.add("init() ok"));
    let init = miner.add("init() ok");
    assert_eq!(miner.template(init).unwrap(), "init() ok");
    // The same event with a value there is the same template, which now shows a wildcard.
    assert_eq!(miner.add("auth failure; logname=bob uid=3 tty=ssh"), first);
    assert_eq!(
        miner.template(first).unwrap(),
        "auth failure; logname=<*> uid=<*> tty=ssh"
    );
}

#[test]
fn an_address_and_its_port_are_two_values() {
    let mut miner = Miner::new(MinerConfig::default());
    let id = miner.add("Receiving block blk_1 src: /10.0.0.1:50010 dest: /10.0.0.2:50010");
    assert_eq!(
        miner.add("Receiving block blk_2 src: /10.0.0.3:41234 dest: /10.0.0.2:50010"),
        id
    );
    assert_eq!(
        miner.template(id).unwrap(),
        "Receiving block <*> src: <*>:<*> dest: <*>:<*>"
    );
}
