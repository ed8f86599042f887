//! Plain-text headers, one case per shape: the loghub data sets' and other common ones.

use ic_core::Level;
use ic_core::parse::plain;

mod common;
use common::{check, received};

#[test]
fn loghub_headers() {
    check(
        plain::parse,
        &[
            (
                "03-17 16:13:38.811  1702  2395 D WindowManager: printFreezingDisplayLogsopening app",
                "2024-03-17T16:13:38.811Z",
                Level::Debug,
                "WindowManager",
                "printFreezingDisplayLogsopening app",
                "pid=1702 tid=2395",
            ),
            (
                "[Sun Dec 04 04:47:44 2005] [error] mod_jk child workerEnv in error state 6",
                "2005-12-04T04:47:44Z",
                Level::Error,
                "",
                "mod_jk child workerEnv in error state 6",
                "",
            ),
            (
                "[Sun Dec 04 04:47:44 2005] [notice] workerEnv.init() ok /etc/httpd/conf/workers2.properties",
                "2005-12-04T04:47:44Z",
                Level::Info,
                "",
                "workerEnv.init() ok /etc/httpd/conf/workers2.properties",
                "",
            ),
            (
                "081109 203615 148 INFO dfs.DataNode$PacketResponder: PacketResponder 1 terminating",
                "2008-11-09T20:36:15Z",
                Level::Info,
                "dfs.DataNode$PacketResponder",
                "PacketResponder 1 terminating",
                "pid=148",
            ),
            (
                "2015-10-18 18:09:02,461 ERROR [RMCommunicator Allocator] org.apache.hadoop.mapreduce.v2.app.rm.RMContainerAllocator: ERROR IN CONTACTING RM. ",
                "2015-10-18T18:09:02.461Z",
                Level::Error,
                "org.apache.hadoop.mapreduce.v2.app.rm.RMContainerAllocator",
                "ERROR IN CONTACTING RM. ",
                "thread=RMCommunicator Allocator",
            ),
            (
                "20171223-22:15:29:606|Step_LSC|30002312|onStandStepChanged 3579",
                "2017-12-23T22:15:29.606Z",
                Level::Info,
                "Step_LSC",
                "onStandStepChanged 3579",
                "pid=30002312",
            ),
            (
                "20171224-0:0:0:215|Step_LSC|30002312|processHandleBroadcastAction action:TIME_TICK",
                "2017-12-24T00:00:00.215Z",
                Level::Info,
                "Step_LSC",
                "processHandleBroadcastAction action:TIME_TICK",
                "pid=30002312",
            ),
            (
                "17/06/09 20:10:40 INFO executor.CoarseGrainedExecutorBackend: Registered signal handlers for [TERM, HUP, INT]",
                "2017-06-09T20:10:40Z",
                Level::Info,
                "executor.CoarseGrainedExecutorBackend",
                "Registered signal handlers for [TERM, HUP, INT]",
                "",
            ),
            (
                "2016-09-28 04:30:30, Info                  CBS    Loaded Servicing Stack v6.1.7601.23505",
                "2016-09-28T04:30:30Z",
                Level::Info,
                "CBS",
                "Loaded Servicing Stack v6.1.7601.23505",
                "",
            ),
            (
                "2016-09-29 02:03:46, Info                  CBS    Warning: Unrecognized packageExtended attribute.",
                "2016-09-29T02:03:46Z",
                Level::Info,
                "CBS",
                "Warning: Unrecognized packageExtended attribute.",
                "",
            ),
            (
                "2015-07-29 17:41:44,747 - INFO  [QuorumPeer[myid=1]/0:0:0:0:0:0:0:0:2181:FastLeaderElection@774] - Notification time out: 3200",
                "2015-07-29T17:41:44.747Z",
                Level::Info,
                "FastLeaderElection",
                "Notification time out: 3200",
                "line=774 thread=QuorumPeer[myid=1]/0:0:0:0:0:0:0:0:2181",
            ),
            (
                "2015-07-30 18:18:02,003 - INFO  [ProcessThread(sid:1 cport:-1)::PrepRequestProcessor@476] - Processed session termination",
                "2015-07-30T18:18:02.003Z",
                Level::Info,
                "PrepRequestProcessor",
                "Processed session termination",
                "line=476 thread=ProcessThread(sid:1 cport:-1)",
            ),
            (
                "Jun 14 15:16:01 combo sshd(pam_unix)[19939]: authentication failure;",
                "2023-06-14T15:16:01Z",
                Level::Info,
                "",
                "combo sshd(pam_unix)[19939]: authentication failure;",
                "",
            ),
        ],
    );
}

#[test]
fn other_common_headers() {
    check(
        plain::parse,
        &[
            (
                "2024-05-02 10:15:00,123 - checkout - ERROR - payment gateway timed out",
                "2024-05-02T10:15:00.123Z",
                Level::Error,
                "checkout",
                "payment gateway timed out",
                "",
            ),
            (
                "12:34:56.789 [http-nio-8080-exec-1] INFO  com.example.OrderService - order 1234 accepted",
                "2024-05-02T12:34:56.789Z",
                Level::Info,
                "com.example.OrderService",
                "order 1234 accepted",
                "thread=http-nio-8080-exec-1",
            ),
            (
                "2024-05-02 10:15:00.123  INFO 4242 --- [           main] com.example.Application                  : Started Application",
                "2024-05-02T10:15:00.123Z",
                Level::Info,
                "com.example.Application",
                "Started Application",
                "pid=4242 thread=main",
            ),
            (
                "2024-05-02T10:15:00.123456Z  WARN inventory_db::pool: connection pool exhausted",
                "2024-05-02T10:15:00.123456Z",
                Level::Warn,
                "inventory_db::pool",
                "connection pool exhausted",
                "",
            ),
            (
                "[2024-05-02T10:15:00Z ERROR checkout::payment] card declined",
                "2024-05-02T10:15:00Z",
                Level::Error,
                "checkout::payment",
                "card declined",
                "",
            ),
            (
                "I0502 10:15:00.123456    4242 controller.go:117] Successfully synced",
                "2024-05-02T10:15:00.123456Z",
                Level::Info,
                "",
                "Successfully synced",
                "pid=4242 source=controller.go:117",
            ),
            (
                "2024/05/02 10:15:00 [error] 1234#0: *5 connect() failed",
                "2024-05-02T10:15:00Z",
                Level::Error,
                "",
                "1234#0: *5 connect() failed",
                "",
            ),
            (
                "[Tue Jun 08 11:54:08.929301 2021] [php7:emerg] [pid 1374899] [client 95.223.77.60:41888] boom",
                "2021-06-08T11:54:08.929301Z",
                Level::Fatal,
                "php7",
                "[pid 1374899] [client 95.223.77.60:41888] boom",
                "",
            ),
            (
                "[Sun Dec 04 04:47:44 2005] [error] [client 10.0.0.1] File does not exist: /var/www/favicon.ico",
                "2005-12-04T04:47:44Z",
                Level::Error,
                "",
                "[client 10.0.0.1] File does not exist: /var/www/favicon.ico",
                "",
            ),
            (
                "2024/05/02 10:15:00 listening on :8080",
                "2024-05-02T10:15:00Z",
                Level::Info,
                "",
                "listening on :8080",
                "",
            ),
            (
                "1714644900 WARN cache miss ratio above 0.5",
                "2024-05-02T10:15:00Z",
                Level::Warn,
                "",
                "cache miss ratio above 0.5",
                "",
            ),
            (
                "2024-05-02T10:15:00+02:00 ERROR: disk full",
                "2024-05-02T08:15:00Z",
                Level::Error,
                "",
                "disk full",
                "",
            ),
            (
                "2024-05-02 10:15:00 200 OK served /index.html\r\n",
                "2024-05-02T10:15:00Z",
                Level::Info,
                "",
                "200 OK served /index.html",
                "",
            ),
            (
                "ERROR Database Connection Refused: Pool exhausted",
                "2024-05-02T12:00:00Z",
                Level::Error,
                "",
                "Database Connection Refused: Pool exhausted",
                "",
            ),
            (
                "[WARN] low disk space on /var",
                "2024-05-02T12:00:00Z",
                Level::Warn,
                "",
                "low disk space on /var",
                "",
            ),
            (
                "kubelet[812]: Failed to pull image",
                "2024-05-02T12:00:00Z",
                Level::Info,
                "kubelet",
                "Failed to pull image",
                "pid=812",
            ),
        ],
    );
}

#[test]
fn unrecognized_headers_are_not_parsed() {
    for line in [
        "",
        "hello world",
        "Error: something went wrong",
        "I am a sentence",
        "404 Not Found",
        "\tat com.example.Foo.bar(Foo.java:42)",
        "- 1117838570 2005.06.03 R02-M1-N0-C:J12-U11 2005-06-03-15.42.50.675872 R02-M1-N0-C:J12-U11 RAS KERNEL INFO instruction cache parity error corrected",
        "134681 node-246 unix.hw state_change.unavailable 1077804742 1 Component State Change",
        "[main] starting",
    ] {
        assert!(plain::parse(line, received()).is_none(), "{line:?}");
    }
}

#[test]
fn fixture_lines_all_have_a_header() {
    for line in include_str!("fixtures/parse/plain.log").lines() {
        let event = plain::parse(line, received()).unwrap_or_else(|| panic!("{line}"));
        assert_ne!(event.timestamp, received(), "{line}");
        assert!(!event.message.is_empty(), "{line}");
    }
}
