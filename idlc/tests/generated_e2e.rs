//! The golden generated code at work: a servant implemented on the generated trait, called
//! through the generated proxy (sync, async, one-way) over the wire encoding, plus TUP, deferred
//! replies, routekey, defaults and the Rust shapes of maps, keys and enum aliases.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use tars::TarsString;

use tars::client::{CallError, LocalInvoker, ServantProxy};
use tars::codec::{MapVec, TarsStruct};
use tars::packet::{status_key, RequestPacket, TupRequest, TupResponse};
use tars::server::{Current, Response, ServantError, Servants};

#[allow(clippy::all, missing_docs)]
mod generated {
    include!("golden/Demo.rs");
}
use generated::{Demo, Types};

const OBJ: &str = "Test.PaintServer.PainterObj";

#[derive(Default)]
struct Painter {
    notes: Mutex<Vec<String>>,
}

impl Demo::Painter for Painter {
    fn draw(
        &self,
        current: &mut Current,
        s: Demo::Shape,
    ) -> Result<(i32, TarsString), ServantError> {
        if s.name == "later" {
            let responder = current
                .defer()
                .ok_or_else(|| ServantError::unknown("cannot defer"))?;
            std::thread::spawn(move || {
                Demo::PainterResponder::draw(responder, &7, &TarsString::from("drawn later"))
            });
            return Ok((0, Default::default()));
        }
        Ok((
            s.points.len() as i32,
            format!("{} in {:?}", s.name, s.color).into(),
        ))
    }

    fn clear(&self, _current: &mut Current) -> Result<(), ServantError> {
        Err(ServantError::new(-50, "nothing to clear"))
    }

    fn find(
        &self,
        current: &mut Current,
        name: TarsString,
    ) -> Result<(bool, Vec<Demo::Point>, i32), ServantError> {
        let routed = current
            .status()
            .get(status_key::GRID_KEY)
            .cloned()
            .unwrap_or_default();
        Ok((routed == name, vec![Demo::Point { x: 1, y: 2 }], 1))
    }

    fn tag(
        &self,
        _current: &mut Current,
        params_: i32,
        ret_: Demo::Color,
    ) -> Result<Types::Tag, ServantError> {
        Ok(Types::Tag {
            label: format!("{params_}/{ret_:?}").into(),
            level: Types::Level::HIGH,
        })
    }

    fn notify(&self, _current: &mut Current, message: TarsString) -> Result<(), ServantError> {
        self.notes.lock().unwrap().push(message.to_string());
        Ok(())
    }
}

fn setup() -> (Arc<Painter>, Arc<Servants>, Demo::PainterProxy) {
    let painter = Arc::new(Painter::default());
    let mut servants = Servants::new();
    servants.add(OBJ, Arc::new(Demo::PainterServant(painter.clone())));
    let servants = Arc::new(servants);
    let proxy = Demo::PainterProxy::new(ServantProxy::new(
        OBJ,
        Arc::new(LocalInvoker::new(servants.clone())),
    ));
    (painter, servants, proxy)
}

fn shape(name: &str) -> Demo::Shape {
    Demo::Shape {
        name: name.into(),
        points: vec![Demo::Point { x: 0, y: 0 }; 3],
        ..Default::default()
    }
}

#[test]
fn sync_async_and_oneway_calls() {
    let (painter, _, proxy) = setup();
    assert_eq!(
        proxy.draw(&shape("square")).unwrap(),
        (3, TarsString::from("square in Green"))
    );
    let fut = proxy.draw_async(&shape("tri"));
    assert_eq!(
        futures_lite_block_on(fut).unwrap(),
        (3, TarsString::from("tri in Green"))
    );
    proxy.notify_oneway("hi").unwrap();
    proxy.notify("again").unwrap();
    assert_eq!(
        *painter.notes.lock().unwrap(),
        vec!["hi".to_string(), "again".to_string()]
    );
}

fn futures_lite_block_on<F: std::future::Future>(f: F) -> F::Output {
    // The generated futures are executor-agnostic; the runtime's own blocking wait is enough.
    tars::client::block_on(f)
}

#[test]
fn errors_routekey_and_renamed_params() {
    let (_, _, proxy) = setup();
    assert_eq!(
        proxy.clear().unwrap_err(),
        CallError::Server {
            code: -50,
            desc: "nothing to clear".into()
        }
    );
    let (found, points, count) = proxy.find("north").unwrap();
    assert!(found, "the routekey parameter travels as STATUS_GRID_KEY");
    assert_eq!((points.len(), count), (1, 1));
    let tag = proxy.tag(42, Demo::Color::Blue).unwrap();
    assert_eq!(tag.label, "42/Red", "Blue is an alias of Red");
    assert_eq!(tag.level, Types::Level::HIGH);
}

#[test]
fn deferred_reply_through_the_generated_responder() {
    let (_, _, proxy) = setup();
    assert_eq!(
        proxy.draw(&shape("later")).unwrap(),
        (7, TarsString::from("drawn later"))
    );
}

#[test]
fn tup_requests_reach_the_generated_dispatcher() {
    let (_, servants, _) = setup();
    let mut req = TupRequest::new(3, OBJ, "draw");
    req.attrs.put("s", &shape("tup"));
    let packet = RequestPacket::decode_from(&req.to_packet().encode_to_bytes()).unwrap();
    let Some(Response::Tup(resp)) = servants.handle(packet, None) else {
        panic!("TUP response expected")
    };
    let wire = TupResponse::from_packet(
        &RequestPacket::decode_from(&Response::Tup(resp).encode_body()).unwrap(),
    )
    .unwrap();
    assert_eq!(wire.ret, 0);
    assert_eq!(wire.attrs.get::<i32>("").unwrap(), 3);
    assert_eq!(wire.attrs.get::<String>("desc").unwrap(), "tup in Green");
}

#[test]
fn defaults_keys_and_map_shapes() {
    let d = Demo::Shape::default();
    assert_eq!(d.color, Demo::Color::Green);
    assert_eq!(d.weight, 1.5);
    assert_eq!(d.big, 4_000_000_000u32);
    assert_eq!(d.r#type, "polygon");
    assert!(d.visible);
    assert_eq!(Demo::Point::default().y, -1);
    assert_eq!(Types::Tag::default().level, Types::Level::MID);
    assert_eq!(Demo::GREETING, "hello \"tars\"");
    // Optional fields equal to their defaults are skipped: only name, color, visible, origin.
    let bytes = d.encode_to_bytes();
    assert_eq!(Demo::Shape::decode_from(&bytes).unwrap(), d);
    assert!(
        bytes.len() < 20,
        "defaults are not written ({} bytes)",
        bytes.len()
    );
    // key[Key, ns, id] makes Key an ordered map key; float keys use MapVec.
    let mut s = shape("maps");
    s.counts = BTreeMap::from([
        (
            Demo::Key {
                ns: "b".into(),
                id: 1,
            },
            1,
        ),
        (
            Demo::Key {
                ns: "a".into(),
                id: 9,
            },
            2,
        ),
    ]);
    s.by_weight = MapVec(vec![(0.5, "half".into()), (2.0, "double".into())]);
    let back = Demo::Shape::decode_from(&s.encode_to_bytes()).unwrap();
    assert_eq!(back, s);
    assert_eq!(
        back.counts.keys().next().unwrap().ns,
        "a",
        "ordered by key fields"
    );
}
