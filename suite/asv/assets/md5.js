/*
 * pairbench's MD5 (RFC 1321) for asv 0.6's regressions page, which loads blueimp-md5 from a CDN
 * to name the regressions a user hides (localStorage keys). No PyPI package ships that library,
 * so this file (written for pairbench, not a copy) defines the one function asv calls:
 *   md5(string) -> 32 lowercase hex digits of the MD5 of the string's UTF-8 bytes
 * (the same digest as blueimp-md5 and Python's hashlib.md5(s.encode()).hexdigest()).
 */
(function (global) {
  "use strict";
  var SHIFT = [7, 12, 17, 22, 5, 9, 14, 20, 4, 11, 16, 23, 6, 10, 15, 21];
  var K = [];
  for (var i = 0; i < 64; i++) {
    K[i] = Math.floor(Math.abs(Math.sin(i + 1)) * 4294967296) | 0;
  }

  function md5(text) {
    var bytes = new TextEncoder().encode(String(text));
    var n = bytes.length;
    var blocks = ((n + 8) >>> 6) + 1;
    var m = new Int32Array(blocks * 16);
    for (var b = 0; b < n; b++) {
      m[b >> 2] |= bytes[b] << ((b % 4) * 8);
    }
    m[n >> 2] |= 0x80 << ((n % 4) * 8);
    m[blocks * 16 - 2] = (n * 8) | 0;
    m[blocks * 16 - 1] = Math.floor(n / 536870912);
    var h = [0x67452301, 0xefcdab89 | 0, 0x98badcfe | 0, 0x10325476];
    for (var off = 0; off < m.length; off += 16) {
      var a = h[0], bb = h[1], c = h[2], d = h[3];
      for (var j = 0; j < 64; j++) {
        var f, g;
        if (j < 16) { f = (bb & c) | (~bb & d); g = j; }
        else if (j < 32) { f = (d & bb) | (~d & c); g = (5 * j + 1) % 16; }
        else if (j < 48) { f = bb ^ c ^ d; g = (3 * j + 5) % 16; }
        else { f = c ^ (bb | ~d); g = (7 * j) % 16; }
        var x = (a + f + K[j] + m[off + g]) | 0;
        var s = SHIFT[(j >> 4) * 4 + (j % 4)];
        a = d;
        d = c;
        c = bb;
        bb = (bb + ((x << s) | (x >>> (32 - s)))) | 0;
      }
      h[0] = (h[0] + a) | 0;
      h[1] = (h[1] + bb) | 0;
      h[2] = (h[2] + c) | 0;
      h[3] = (h[3] + d) | 0;
    }
    var hex = "";
    h.forEach(function (word) {
      for (var k = 0; k < 4; k++) {
        hex += ((word >>> (k * 8)) & 255).toString(16).padStart(2, "0");
      }
    });
    return hex;
  }

  global.md5 = md5;
}(this));
