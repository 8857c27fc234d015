/* 上报与自查: a ZIP (or a folder, zipped here first) sent in chunks with a progress bar.
 * The server keeps every chunk it received; after a broken line, a reload or a closed
 * laptop the same file picked again goes on from where the server stopped (the upload's
 * id is remembered in this browser's localStorage). Plain script, no library, no build:
 * the protocol is described in pipeline/web/uploads.py. */
"use strict";
(function () {
  var config = document.getElementById("upload-config");
  if (!config) { return; }
  var csrf = config.getAttribute("data-csrf");
  var chunkBytes = Number(config.getAttribute("data-chunk"));
  var maxBytes = Number(config.getAttribute("data-max-bytes"));
  var MAX_TRIES = 30;

  // -- CRC-32 (the ZIP's checksum) ------------------------------------------------------
  var TABLE = new Uint32Array(256);
  for (var n = 0; n < 256; n++) {
    var c = n;
    for (var k = 0; k < 8; k++) { c = (c & 1) ? (0xEDB88320 ^ (c >>> 1)) : (c >>> 1); }
    TABLE[n] = c >>> 0;
  }
  function crc32(crc, bytes) {
    crc = crc ^ 0xFFFFFFFF;
    for (var i = 0; i < bytes.length; i++) { crc = TABLE[(crc ^ bytes[i]) & 0xFF] ^ (crc >>> 8); }
    return (crc ^ 0xFFFFFFFF) >>> 0;
  }

  function mb(bytes) { return (bytes / 1048576).toFixed(1) + " MB"; }
  function sleep(ms) { return new Promise(function (resolve) { setTimeout(resolve, ms); }); }

  // -- a folder as a stored ZIP: headers made here, the files' bytes read by the browser
  //    only to compute their CRC (the Blob refers to the files; nothing is copied) -------
  function dosTime(ms) {
    var d = new Date(ms || Date.now());
    var year = Math.max(d.getFullYear(), 1980);
    return {
      time: (d.getHours() << 11) | (d.getMinutes() << 5) | (d.getSeconds() >> 1),
      date: ((year - 1980) << 9) | ((d.getMonth() + 1) << 5) | d.getDate()
    };
  }

  async function fileCrc(file, done, onProgress) {
    var crc = 0;
    for (var at = 0; at < file.size; at += chunkBytes) {
      var bytes = new Uint8Array(await file.slice(at, Math.min(at + chunkBytes, file.size)).arrayBuffer());
      crc = crc32(crc, bytes);
      onProgress(done + Math.min(at + chunkBytes, file.size));
    }
    return crc;
  }

  async function zipFolder(fileList, onProgress) {
    var files = Array.prototype.slice.call(fileList);
    files.sort(function (a, b) { return a.webkitRelativePath < b.webkitRelativePath ? -1 : 1; });
    var total = files.reduce(function (sum, f) { return sum + f.size; }, 0);
    if (files.length > 65000 || total + files.length * 400 > 0xFFFFFFFE) {
      throw new Error("文件夹太大（超过 4 GB 或文件太多）：请先用压缩软件压缩成 ZIP，再选择压缩包上传。");
    }
    var encoder = new TextEncoder();
    var parts = [], central = [], offset = 0, done = 0, centralSize = 0;
    for (var i = 0; i < files.length; i++) {
      var file = files[i];
      var name = encoder.encode(file.webkitRelativePath || file.name);
      var crc = await fileCrc(file, done, onProgress);
      done += file.size;
      var when = dosTime(file.lastModified);
      var local = new DataView(new ArrayBuffer(30));
      local.setUint32(0, 0x04034b50, true); local.setUint16(4, 20, true); local.setUint16(6, 0x0800, true);
      local.setUint16(8, 0, true); local.setUint16(10, when.time, true); local.setUint16(12, when.date, true);
      local.setUint32(14, crc, true); local.setUint32(18, file.size, true); local.setUint32(22, file.size, true);
      local.setUint16(26, name.length, true); local.setUint16(28, 0, true);
      parts.push(local.buffer, name, file);
      var entry = new DataView(new ArrayBuffer(46));
      entry.setUint32(0, 0x02014b50, true); entry.setUint16(4, 0x031E, true); entry.setUint16(6, 20, true);
      entry.setUint16(8, 0x0800, true); entry.setUint16(10, 0, true); entry.setUint16(12, when.time, true);
      entry.setUint16(14, when.date, true); entry.setUint32(16, crc, true); entry.setUint32(20, file.size, true);
      entry.setUint32(24, file.size, true); entry.setUint16(28, name.length, true);
      entry.setUint32(38, (0o100644 << 16) >>> 0, true); entry.setUint32(42, offset, true);
      central.push(entry.buffer, name);
      centralSize += 46 + name.length;
      offset += 30 + name.length + file.size;
    }
    var end = new DataView(new ArrayBuffer(22));
    end.setUint32(0, 0x06054b50, true); end.setUint16(8, files.length, true); end.setUint16(10, files.length, true);
    end.setUint32(12, centralSize, true); end.setUint32(16, offset, true);
    var top = (files[0].webkitRelativePath || "文件夹").split("/")[0];
    return { blob: new Blob(parts.concat(central, [end.buffer]), { type: "application/zip" }), name: top + ".zip" };
  }

  // -- the server -------------------------------------------------------------------------
  async function api(method, url, form) {
    var options = { method: method, credentials: "same-origin", headers: { "X-CSRF-Token": csrf } };
    if (form) { options.body = new URLSearchParams(form); }
    var response = await fetch(url, options);
    var data = {};
    try { data = await response.json(); } catch (e) { data = {}; }
    return { status: response.status, data: data };
  }

  // one PUT with its progress (fetch cannot report an upload's progress; XMLHttpRequest can)
  function put(url, body, headers, onProgress) {
    return new Promise(function (resolve, reject) {
      var xhr = new XMLHttpRequest();
      xhr.open("PUT", url);
      Object.keys(headers).forEach(function (h) { xhr.setRequestHeader(h, headers[h]); });
      xhr.upload.onprogress = function (e) { onProgress(e.loaded); };
      xhr.onload = function () {
        var data = {};
        try { data = JSON.parse(xhr.responseText || "{}"); } catch (e) { data = {}; }
        resolve({ status: xhr.status, data: data });
      };
      xhr.onerror = function () { reject(new Error("网络中断")); };
      xhr.ontimeout = function () { reject(new Error("网络超时")); };
      xhr.send(body);
    });
  }

  function Ui(section) {
    this.box = section.querySelector(".progress");
    this.bar = section.querySelector("progress");
    this.text = section.querySelector(".progress-text");
    this.message = section.querySelector(".message");
    this.started = Date.now();
    this.from = 0;
  }
  Ui.prototype.show = function (done, total, what) {
    this.box.hidden = false;
    this.bar.max = total;
    this.bar.value = done;
    var seconds = (Date.now() - this.started) / 1000;
    var speed = seconds > 1 ? "，" + mb((done - this.from) / seconds) + "/秒" : "";
    this.text.textContent = what + " " + mb(done) + " / " + mb(total) + "（" + Math.floor(100 * done / total) + "%）" + speed;
  };
  Ui.prototype.say = function (text, problem) {
    this.message.textContent = text;
    this.message.className = "message" + (problem ? " problem" : "");
  };

  async function resumeOrStart(ui, blob, name, purpose, key) {
    var id = localStorage.getItem(key);
    if (id) {
      var seen = await api("GET", "/uploads/" + id);
      if (seen.status === 200) {
        ui.say("接着上次的位置继续上传（已上传 " + mb(seen.data.offset) + "）。");
        return { id: id, mode: seen.data.parts ? "parts" : "chunks", offset: seen.data.offset, parts: seen.data.parts || [] };
      }
      localStorage.removeItem(key);
    }
    var started = await api("POST", "/uploads", { csrf_token: csrf, name: name, size: String(blob.size), purpose: purpose });
    if (started.status !== 200) { throw new Error(started.data.error || "服务器拒绝了这次上传。"); }
    localStorage.setItem(key, started.data.id);
    return { id: started.data.id, mode: started.data.mode, offset: 0, parts: [] };
  }

  // a chunk or part, tried again after a broken line (waiting longer each time)
  async function withRetries(ui, attempt) {
    for (var tries = 1; ; tries++) {
      try {
        var answer = await attempt();
        if (answer.status < 500) { return answer; }
        if (tries >= MAX_TRIES) { throw new Error("服务器暂时不可用。"); }
      } catch (e) {
        if (tries >= MAX_TRIES) { throw new Error("网络一直不通，请稍后重新选择同一个文件继续上传。"); }
      }
      var wait = Math.min(30, Math.pow(2, Math.min(tries, 5)));
      ui.say("网络中断，" + wait + " 秒后自动重试（第 " + tries + " 次）……", true);
      await sleep(wait * 1000);
    }
  }

  async function sendChunks(ui, blob, upload) {
    var offset = upload.offset;
    while (offset < blob.size) {
      var at = offset;
      var answer = await withRetries(ui, async function () {
        var seen = await api("GET", "/uploads/" + upload.id);  // where the server really is
        if (seen.status === 200) { at = seen.data.offset; }
        if (at >= blob.size) { return { status: 200, data: { offset: at } }; }
        return put("/uploads/" + upload.id + "?offset=" + at, blob.slice(at, Math.min(at + chunkBytes, blob.size)),
                   { "X-CSRF-Token": csrf }, function (loaded) { ui.show(at + loaded, blob.size, "已上传"); });
      });
      if (answer.status === 409) {  // the server holds another offset, or the chunk before is still arriving
        if (answer.data.offset === null || answer.data.offset === undefined) { await sleep(2000); } else { offset = answer.data.offset; }
        continue;
      }
      if (answer.status !== 200) { throw new Error(answer.data.error || "上传被拒绝。"); }
      offset = answer.data.offset;
      ui.say("");
      ui.show(offset, blob.size, "已上传");
    }
  }

  async function sendParts(ui, blob, upload) {
    var count = Math.ceil(blob.size / chunkBytes);
    var have = {};
    upload.parts.forEach(function (n) { have[n] = true; });
    var done = upload.offset;
    for (var number = 1; number <= count; number++) {
      if (have[number]) { continue; }
      var first = (number - 1) * chunkBytes, piece = blob.slice(first, Math.min(first + chunkBytes, blob.size));
      var answer = await withRetries(ui, async function () {
        var link = await api("GET", "/uploads/" + upload.id + "/parts/" + number);
        if (link.status !== 200) { return link; }
        return put(link.data.url, piece, {}, function (loaded) { ui.show(done + loaded, blob.size, "已上传"); });
      });
      if (answer.status !== 200) { throw new Error((answer.data && answer.data.error) || "上传被拒绝。"); }
      done += piece.size;
      ui.say("");
      ui.show(done, blob.size, "已上传");
    }
  }

  async function send(section, blob, name, stamp) {
    var ui = new Ui(section);
    var purpose = section.getAttribute("data-purpose");
    if (blob.size > maxBytes) { throw new Error("压缩包太大，最多 " + mb(maxBytes) + "。"); }
    var key = "upload:" + purpose + ":" + name + ":" + blob.size + ":" + stamp;
    var upload = await resumeOrStart(ui, blob, name, purpose, key);
    ui.started = Date.now();
    ui.from = upload.offset;
    ui.show(upload.offset, blob.size, "已上传");
    if (upload.mode === "parts") { await sendParts(ui, blob, upload); } else { await sendChunks(ui, blob, upload); }
    ui.say("已全部上传，正在交给检查……");
    var finished = await withRetries(ui, function () { return api("POST", "/uploads/" + upload.id + "/finish", { csrf_token: csrf }); });
    if (finished.status !== 200) { throw new Error(finished.data.error || "上传没有完成。"); }
    localStorage.removeItem(key);
    ui.say(purpose === "submit" ? "已上报，等待检查。" : "已上传，正在自查……");
    window.location.href = finished.data.next;
  }

  function busy(section, on) {
    Array.prototype.forEach.call(section.querySelectorAll("input"), function (input) { input.disabled = on; });
  }

  Array.prototype.forEach.call(document.querySelectorAll("section.upload"), function (section) {
    var ui = new Ui(section);
    section.querySelector(".pick-zip").addEventListener("change", function (event) {
      var file = event.target.files[0];
      if (!file) { return; }
      busy(section, true);
      send(section, file, file.name, file.lastModified || 0).catch(function (e) {
        ui.say(e.message, true);
        busy(section, false);
      });
    });
    section.querySelector(".pick-folder").addEventListener("change", function (event) {
      var files = event.target.files;
      if (!files || !files.length) { return; }
      busy(section, true);
      var total = Array.prototype.reduce.call(files, function (sum, f) { return sum + f.size; }, 0);
      ui.say("正在把文件夹压缩成 ZIP……");
      zipFolder(files, function (done) { ui.show(done, total || 1, "正在压缩"); }).then(function (zipped) {
        var stamp = Array.prototype.reduce.call(files, function (m, f) { return Math.max(m, f.lastModified || 0); }, 0);
        return send(section, zipped.blob, zipped.name, stamp + ":" + files.length);
      }).catch(function (e) {
        ui.say(e.message, true);
        busy(section, false);
      });
    });
  });
}());
