"""A small server-rendered web UI: repositories, a user's flists, an flist's contents and
metadata, and an upload form with progress (upload bytes via XHR, conversion via /listen)."""

from __future__ import annotations

import html
import json
import time
from typing import Any

_STYLE = """body{font-family:sans-serif;margin:2em;max-width:70em}table{border-collapse:collapse}
td,th{padding:.2em .8em;border-bottom:1px solid #ddd;text-align:left}progress{width:30em}
pre{background:#f4f4f4;padding:1em}"""


def page(title: str, body: str) -> str:
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)} - zos hub</title>"
            f"<style>{_STYLE}</style></head><body><nav><a href='/ui/'>repositories</a> · "
            f"<a href='/ui/upload'>upload</a></nav><h1>{html.escape(title)}</h1>{body}</body></html>")


def _when(ts: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.gmtime(ts))


def repositories(repos: list[dict[str, Any]]) -> str:
    rows = "".join(
        f"<tr><td><a class='repo' href='/ui/{html.escape(r['name'])}'>{html.escape(r['name'])}</a></td>"
        f"<td>{'official' if r['official'] else ''}</td><td>{_when(r.get('updated', 0))}</td></tr>"
        for r in repos)
    return page("Repositories", f"<table id='repositories'><tr><th>name</th><th></th><th>updated</th></tr>"
                                f"{rows}</table>")


def user(name: str, entries: list[dict[str, Any]]) -> str:
    rows = []
    for e in entries:
        label = html.escape(e["name"])
        link = (f"<a class='flist' href='/ui/{html.escape(name)}/{label}'>{label}</a>"
                if e["type"] in ("regular", "symlink") else label)
        target = f" → {html.escape(e['target'])}" if e.get("target") else ""
        download = f"<a href='/{html.escape(name)}/{label}'>download</a>" if e["type"] in ("regular", "symlink") else ""
        rows.append(f"<tr><td>{link}{target}</td><td>{e['type']}</td><td>{html.escape(str(e['size']))}</td>"
                    f"<td>{_when(e['updated'])}</td><td>{download}</td></tr>")
    return page(f"Repository {name}", "<table id='flists'><tr><th>name</th><th>type</th><th>size</th>"
                                      f"<th>updated</th><th></th></tr>{''.join(rows)}</table>")


def flist(user_name: str, name: str, contents: dict[str, Any], metadata: dict[str, Any]) -> str:
    rows = "".join(f"<tr><td>{html.escape(c['path'])}</td><td>{c['size']}</td></tr>"
                   for c in contents["content"][:5000])
    summary = ", ".join(f"{k}: {contents[k]}" for k in ("regular", "symlink", "directory", "special", "fullsize"))
    return page(f"{user_name}/{name}",
                f"<p id='summary'>{html.escape(summary)}</p><p><a href='/{html.escape(user_name)}/"
                f"{html.escape(name)}'>download</a> · <a href='/{html.escape(user_name)}/{html.escape(name)}.md5'>"
                f"md5</a></p><h2>Metadata</h2><pre id='metadata'>{html.escape(json.dumps(metadata, indent=2))}</pre>"
                f"<h2>Contents</h2><table id='contents'><tr><th>path</th><th>size</th></tr>{rows}</table>")


UPLOAD = page("Upload", """
<form id='upload-form'>
<p><label>Token <input id='token' type='password' size='40'></label></p>
<p><label>Archive (.tar.gz) <input id='file' type='file' accept='.tar.gz,.tgz'></label></p>
<p><button id='send' type='submit'>Upload</button></p>
</form>
<p>upload <progress id='sent' max='100' value='0'></progress></p>
<p>processing <span id='processing'>-</span></p>
<p id='result'></p>
<script>
document.getElementById('upload-form').addEventListener('submit', function (ev) {
  ev.preventDefault();
  var file = document.getElementById('file').files[0];
  if (!file) { document.getElementById('result').textContent = 'choose a file'; return; }
  var job = Math.random().toString(16).slice(2) + Date.now().toString(16);
  var source = new EventSource('/listen/' + job);
  source.onmessage = function (msg) {
    var data = JSON.parse(msg.data);
    if (data.status === 'progress') {
      document.getElementById('processing').textContent = data.current + ' files';
    } else { source.close(); }
  };
  var form = new FormData();
  form.append('file', file, file.name);
  var xhr = new XMLHttpRequest();
  xhr.open('POST', '/api/flist/me/upload?job=' + job);
  xhr.setRequestHeader('Authorization', 'bearer ' + document.getElementById('token').value);
  xhr.upload.onprogress = function (e) {
    if (e.lengthComputable) { document.getElementById('sent').value = 100 * e.loaded / e.total; }
  };
  xhr.onload = function () {
    var out = document.getElementById('result');
    try {
      var body = JSON.parse(xhr.responseText);
      if (xhr.status === 200) {
        out.innerHTML = '';
        var a = document.createElement('a');
        a.id = 'done';
        a.href = '/ui/' + body.payload.user + '/' + body.payload.name;
        a.textContent = body.payload.user + '/' + body.payload.name + ': ' + body.payload.files.regular + ' files';
        out.appendChild(a);
      } else { out.textContent = 'error ' + xhr.status + ': ' + body.message; out.className = 'error'; }
    } catch (err) { out.textContent = 'error ' + xhr.status; out.className = 'error'; }
  };
  xhr.send(form);
});
</script>""")
