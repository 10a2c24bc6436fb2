// Node `onvif` (Cam) setting up a camera through the gateway: node live_media.js HOST PORT USER, the password
// on stdin; one JSON document on stdout: the profiles Cam read while connecting, a stream and a snapshot URI
// of the first, and the answer of a relative PTZ move.
'use strict';
const {Cam} = require('onvif');

const [hostname, port, username] = process.argv.slice(2);
const password = require('fs').readFileSync(0, 'utf8').replace(/\n$/, '');

function fail(err) {
  process.stderr.write(String(err && err.stack || err) + '\n');
  process.exit(1);
}

const cam = new Cam({hostname, port: Number(port), username, password, timeout: 30000}, (err) => {
  if (err) return fail(err);
  const profiles = (cam.profiles || []).map((p) => ({token: p.$.token, name: p.name,
    encoding: p.videoEncoderConfiguration && p.videoEncoderConfiguration.encoding}));
  const token = profiles.length ? profiles[0].token : null;
  cam.getStreamUri({protocol: 'RTSP', profileToken: token}, (err, stream) => {
    if (err) return fail(err);
    cam.getSnapshotUri({profileToken: token}, (err, snapshot) => {
      if (err) return fail(err);
      cam.relativeMove({profileToken: token, x: 0.1, y: 0}, (err) => {
        process.stdout.write(JSON.stringify({profiles, stream: stream.uri, snapshot: snapshot.uri,
          move: err ? String(err.message || err) : 'ok'}));
      });
    });
  });
});
