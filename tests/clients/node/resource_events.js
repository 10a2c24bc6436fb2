// Node `onvif` (Cam) as its users drive it: node resource_events.js HOST PORT USER LAT LON RADIUS,
// the password on stdin, one JSON document on stdout (the shape of tests/clients/events.py).
'use strict';
const {Cam} = require('onvif');

const [host, port, username, lat, lon, radius] = process.argv.slice(2);
const password = require('fs').readFileSync(0, 'utf8').replace(/\n$/, '');

// Cam's createPullPointSubscription sends no Filter; a Resource Query needs one, so the request is sent through
// the Cam's own request path with the Filter added, and its answer stored where createPullPointSubscription
// stores it, so pullMessages and unsubscribe work unchanged.
function subscribe(cam, callback) {
  const filter =
    '<Filter>' +
      '<wsnt:TopicExpression xmlns:wsnt="http://docs.oasis-open.org/wsn/b-2" ' +
        'xmlns:tns1="http://www.onvif.org/ver10/topics" ' +
        'Dialect="http://www.onvif.org/ver10/tev/topicExpression/ConcreteSet">tns1:Resource//.</wsnt:TopicExpression>' +
      '<tt:LocationFilter xmlns:tt="http://www.onvif.org/ver10/schema">' +
        `<tt:lon>${lon}</tt:lon><tt:lat>${lat}</tt:lat><tt:radius>${radius}</tt:radius>` +
      '</tt:LocationFilter>' +
    '</Filter>';
  cam._request({
    service: 'events',
    body: cam._envelopeHeader() +
      '<CreatePullPointSubscription xmlns="http://www.onvif.org/ver10/events/wsdl">' + filter +
        '<InitialTerminationTime>PT60S</InitialTerminationTime>' +
      '</CreatePullPointSubscription>' + cam._envelopeFooter(),
  }, (err, res) => {
    if (err) return callback(err);
    const {linerase} = require('onvif/lib/utils');
    cam.events.subscription = linerase(res[0].createPullPointSubscriptionResponse[0]);
    cam.events.subscription.subscriptionReference.address =
      cam._parseUrl(cam.events.subscription.subscriptionReference.address);
    callback(null);
  });
}

const list = (x) => (x === undefined ? [] : Array.isArray(x) ? x : [x]);

function event(note) {
  const message = note.message.message;
  const data = message.data || {};
  const simple = list(data.simpleItem).map((i) => i.$);
  const geo = list(data.elementItem).filter((i) => i.$.Name === 'Location').map((i) => i.geoLocation.$);
  const one = (name) => { const v = simple.filter((i) => i.Name === name); return v.length ? String(v[0].Value) : null; };
  const num = (v) => (v === undefined ? null : Number(v));
  return {
    topic: typeof note.topic === 'string' ? note.topic : note.topic._,
    operation: message.$.PropertyOperation,
    token: list(message.source.simpleItem).map((i) => i.$).find((i) => i.Name === 'Token').Value,
    name: one('Name'),
    scopes: simple.filter((i) => i.Name === 'Scope').map((i) => i.Value),
    offline: one('Offline'),
    location: geo.length ? {lon: num(geo[0].lon), lat: num(geo[0].lat), elevation: num(geo[0].elevation)} : null,
  };
}

function fail(err) {
  process.stderr.write(String(err && err.stack || err) + '\n');
  process.exit(1);
}

const cam = new Cam({hostname: host, port: Number(port), username, password, timeout: 20000}, (err) => {
  if (err) return fail(err);
  const connect = {
    events_xaddr: cam.uri.events ? cam.uri.events.href : null,
    services: (cam.services || []).map((s) => s.namespace).sort(),
  };
  subscribe(cam, (err) => {
    if (err) return fail(err);
    // One pull takes the whole enumeration: Cam always asks for a one-minute Timeout, so the empty pull that
    // ends an enumeration would wait that long.
    cam.pullMessages({messageLimit: 1000}, (err, data) => {
      if (err) return fail(err);
      const events = list(data.notificationMessage).map(event);
      cam.unsubscribe((err) => {
        if (err) return fail(err);
        process.stdout.write(JSON.stringify({connect, events}));
      });
    });
  });
});
