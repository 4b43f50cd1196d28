//! The generated QueryF and AdminF, served and called in-process through the wire
//! encoding.

use std::sync::Arc;
use tars::TarsString;

use tars::client::{LocalInvoker, ServantProxy};
use tars::server::{Current, ServantError, Servants};
use tars_protocols::tars::{
    AdminF, AdminFProxy, AdminFServant, EndpointF, GetMasterSlaveLock, QueryF, QueryFProxy,
    QueryFServant,
};

struct Registry;

fn ep(host: &str, port: i32) -> EndpointF {
    EndpointF {
        host: host.into(),
        port,
        timeout: 60000,
        istcp: 1,
        ..Default::default()
    }
}

type Eps = Vec<EndpointF>;

impl QueryF for Registry {
    fn find_object_by_id(&self, _c: &mut Current, id: TarsString) -> Result<Eps, ServantError> {
        Ok(if id == "App.Server.Obj" {
            vec![ep("127.0.0.1", 1)]
        } else {
            vec![]
        })
    }
    fn find_object_by_id4_any(
        &self,
        c: &mut Current,
        id: TarsString,
    ) -> Result<(i32, Eps, Eps), ServantError> {
        Ok((0, self.find_object_by_id(c, id)?, vec![]))
    }
    fn find_object_by_id4_all(
        &self,
        c: &mut Current,
        id: TarsString,
    ) -> Result<(i32, Eps, Eps), ServantError> {
        Ok((0, self.find_object_by_id(c, id)?, vec![ep("127.0.0.2", 2)]))
    }
    fn find_object_by_id_in_same_group(
        &self,
        c: &mut Current,
        id: TarsString,
    ) -> Result<(i32, Eps, Eps), ServantError> {
        self.find_object_by_id4_all(c, id)
    }
    fn find_object_by_id_in_same_station(
        &self,
        _c: &mut Current,
        _id: TarsString,
        station: TarsString,
    ) -> Result<(i32, Eps, Eps), ServantError> {
        Ok((0, vec![ep(&station, 3)], vec![]))
    }
    fn find_object_by_id_in_same_set(
        &self,
        _c: &mut Current,
        _id: TarsString,
        set_id: TarsString,
    ) -> Result<(i32, Eps, Eps), ServantError> {
        let mut e = ep("127.0.0.9", 9);
        e.set_id = set_id;
        Ok((0, vec![e], vec![]))
    }
    fn find_object_node_name(
        &self,
        _c: &mut Current,
        _id: TarsString,
    ) -> Result<(i32, Vec<TarsString>), ServantError> {
        Ok((0, vec!["node-1".into()]))
    }
    fn register_change(
        &self,
        _c: &mut Current,
        timestamp: std::collections::BTreeMap<TarsString, TarsString>,
        _name: TarsString,
    ) -> Result<i32, ServantError> {
        Ok(timestamp.len() as i32)
    }
    fn register_query(
        &self,
        _c: &mut Current,
        _id: TarsString,
        _name: TarsString,
    ) -> Result<i32, ServantError> {
        Ok(0)
    }
    fn get_locker(&self, _c: &mut Current, req: GetMasterSlaveLock) -> Result<i32, ServantError> {
        Ok(req.timeout)
    }
}

struct Admin;

impl AdminF for Admin {
    fn shutdown(&self, _c: &mut Current) -> Result<(), ServantError> {
        Ok(())
    }
    fn notify(&self, _c: &mut Current, command: TarsString) -> Result<TarsString, ServantError> {
        Ok(format!("done: {command}").into())
    }
    fn get_pid(&self, _c: &mut Current) -> Result<i64, ServantError> {
        Ok(std::process::id() as i64)
    }
}

fn servants() -> Arc<LocalInvoker> {
    let mut s = Servants::new();
    s.add(
        "tars.tarsregistry.QueryObj",
        Arc::new(QueryFServant::new(Registry)),
    );
    s.add("App.Server.AdminObj", Arc::new(AdminFServant::new(Admin)));
    Arc::new(LocalInvoker::new(Arc::new(s)))
}

#[test]
fn query_f_answers_through_the_generated_proxy() {
    let q = QueryFProxy::new(ServantProxy::new("tars.tarsregistry.QueryObj", servants()));
    assert_eq!(
        q.find_object_by_id("App.Server.Obj").unwrap(),
        vec![ep("127.0.0.1", 1)]
    );
    let (ret, active, inactive) = q.find_object_by_id_in_same_group("App.Server.Obj").unwrap();
    assert_eq!(
        (ret, active.len(), inactive.len()),
        (0, 1, 1),
        "both lists, as Node clients need"
    );
    let (_, active, _) = q.find_object_by_id_in_same_set("x", "app.sz.1").unwrap();
    assert_eq!(active[0].set_id, "app.sz.1");
    let (_, active, _) = q.find_object_by_id_in_same_station("x", "st").unwrap();
    assert_eq!(active[0].host, "st");
    assert_eq!(
        q.find_object_node_name("x").unwrap(),
        (0, vec![TarsString::from("node-1")])
    );
    let lock = GetMasterSlaveLock {
        timeout: 1500,
        ..Default::default()
    };
    assert_eq!(q.get_locker(&lock).unwrap(), 1500);
    let map = [(TarsString::from("a"), TarsString::from("1"))]
        .into_iter()
        .collect();
    assert_eq!(q.register_change(&map, "n").unwrap(), 1);
}

#[test]
fn admin_f_answers_through_the_generated_proxy() {
    let a = AdminFProxy::new(ServantProxy::new("App.Server.AdminObj", servants()));
    assert_eq!(
        a.notify("tars.viewstatus").unwrap(),
        "done: tars.viewstatus"
    );
    assert_eq!(a.get_pid().unwrap(), std::process::id() as i64);
    a.shutdown().unwrap();
}
