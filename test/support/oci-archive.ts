import { run } from './exec.js';

/** One tar entry of a hand-made layer; names and link targets are written as given, hostile ones too. */
export type LayerEntry =
  | { type: 'file'; name: string; content?: string; mode?: number }
  | { type: 'dir'; name: string; mode?: number }
  | { type: 'symlink'; name: string; target: string }
  | { type: 'hardlink'; name: string; target: string };

// Python's tarfile writes whatever names it is given, which is what a test of a hostile layer needs; the
// OCI layout around the layers is plain JSON and sha256.
const SCRIPT = String.raw`
import hashlib, io, json, sys, tarfile, time
spec = json.load(sys.stdin)
blobs = {}
def add(data):
    d = "sha256:" + hashlib.sha256(data).hexdigest()
    blobs[d] = data
    return d, len(data)
def layer(entries):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        for e in entries:
            ti = tarfile.TarInfo(e["name"])
            ti.mtime = 1700000000
            data = b""
            if e["type"] == "file":
                data = e.get("content", "").encode()
                ti.size = len(data); ti.mode = e.get("mode", 0o644)
            elif e["type"] == "dir":
                ti.type = tarfile.DIRTYPE; ti.mode = e.get("mode", 0o755)
            elif e["type"] == "symlink":
                ti.type = tarfile.SYMTYPE; ti.linkname = e["target"]; ti.mode = 0o777
            elif e["type"] == "hardlink":
                ti.type = tarfile.LNKTYPE; ti.linkname = e["target"]
            t.addfile(ti, io.BytesIO(data) if data else None)
    return buf.getvalue()
layers, diff_ids = [], []
for entries in spec["layers"]:
    data = layer(entries)
    d, n = add(data)
    diff_ids.append(d)
    layers.append({"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": d, "size": n})
config = json.dumps({"architecture": "amd64", "os": "linux", "config": {},
    "rootfs": {"type": "layers", "diff_ids": diff_ids}}).encode()
cd, cn = add(config)
manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
    "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": cn},
    "layers": layers}).encode()
md, mn = add(manifest)
index = json.dumps({"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
    "digest": md, "size": mn, "annotations": {"io.containerd.image.name": spec["name"],
    "org.opencontainers.image.ref.name": spec["name"].rsplit(":", 1)[1]}}]}).encode()
with tarfile.open(spec["out"], "w") as t:
    def put(name, data):
        ti = tarfile.TarInfo(name); ti.size = len(data); ti.mtime = int(time.time()); t.addfile(ti, io.BytesIO(data))
    put("oci-layout", json.dumps({"imageLayoutVersion": "1.0.0"}).encode())
    put("index.json", index)
    for d, data in blobs.items():
        put("blobs/sha256/" + d[7:], data)
`;

/** Write an OCI archive at `out` holding one image `name` (with a tag) made of the given layers. */
export async function buildOciArchive(out: string, name: string, layers: LayerEntry[][]): Promise<void> {
  const r = await run('python3', ['-c', SCRIPT], { input: JSON.stringify({ out, name, layers }) });
  if (r.code !== 0) throw new Error(`building ${out}: ${r.stderr}`);
}
