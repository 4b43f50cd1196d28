//! `TestEtcd` itself: a 3-member cluster comes up healthy, keeps serving with one member
//! killed, and the member rejoins on restart; every member is gone after the drop.

use std::time::Duration;
use tars_test_support::etcd::health;

use tars_test_support::{wait_until, TestEtcd};

#[test]
fn three_members_survive_the_loss_of_one_and_stop_on_drop() {
    if !TestEtcd::available("three_members_survive_the_loss_of_one_and_stop_on_drop") {
        return;
    }
    let mut etcd = TestEtcd::start(3);
    let ports: Vec<u16> = etcd.members().iter().map(|m| m.client_port).collect();
    let pids: Vec<u32> = (0..3).map(|i| etcd.pid(i).expect("running")).collect();
    assert!(ports.iter().all(|p| health(*p)));
    etcd.kill(1);
    assert!(!health(ports[1]));
    // Two of three keep a quorum: the others report healthy again once they elected a new
    // leader (if the killed member led).
    wait_until("the two others healthy", Duration::from_secs(10), || {
        health(ports[0]) && health(ports[2])
    });
    etcd.restart(1);
    assert!(health(ports[1]));
    drop(etcd);
    for pid in pids {
        assert!(
            !std::path::Path::new(&format!("/proc/{pid}")).exists(),
            "etcd pid {pid} still exists after the drop"
        );
    }
}
