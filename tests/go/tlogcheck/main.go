// tlogcheck checks a running Export Ledger with the Go transparency-log packages
// (golang.org/x/mod/sumdb/note and sumdb/tlog), none of the ledger's own code:
// it opens GET /checkpoint with the log's vkey (and the witnesses' cosignature
// keys), recomputes the root from the tiles, and checks an export's inclusion
// proofs and a consistency proof, both as the server serves them and as the
// tiles prove them. It prints one line per check and exits 1 on the first failure.
package main

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

var (
	base      = flag.String("url", "", "the ledger's base URL")
	vkey      = flag.String("vkey", "", "the log's verifier key")
	token     = flag.String("token", "", "an admin bearer token (entry bundles, proofs)")
	exportID  = flag.String("export", "", "an export whose proofs to check")
	since     = flag.Int64("since", 0, "an older checkpoint size for a consistency proof")
	witnesses listFlag
)

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "FAIL "+format+"\n", args...)
	os.Exit(1)
}

func get(path string) []byte {
	req, err := http.NewRequest("GET", strings.TrimRight(*base, "/")+"/"+path, nil)
	if err != nil {
		fail("%v", err)
	}
	if *token != "" {
		req.Header.Set("Authorization", "Bearer "+*token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fail("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		fail("GET %s: %d %s", path, resp.StatusCode, body)
	}
	return body
}

// cosigner verifies c2sp.org/tlog-cosignature v1 (type 0x04) signature lines.
type cosigner struct {
	name string
	hash uint32
	key  ed25519.PublicKey
}

func (c *cosigner) Name() string    { return c.name }
func (c *cosigner) KeyHash() uint32 { return c.hash }
func (c *cosigner) Verify(msg, sig []byte) bool {
	if len(sig) != 8+ed25519.SignatureSize {
		return false
	}
	t := binary.BigEndian.Uint64(sig[:8])
	signed := append([]byte(fmt.Sprintf("cosignature/v1\ntime %d\n", t)), msg...)
	return ed25519.Verify(c.key, signed, sig[8:])
}

func newCosigner(vkey string) *cosigner {
	parts := strings.SplitN(vkey, "+", 3)
	if len(parts) != 3 {
		fail("witness vkey %q", vkey)
	}
	hash, err1 := strconv.ParseUint(parts[1], 16, 32)
	key, err2 := base64.StdEncoding.DecodeString(parts[2])
	if err1 != nil || err2 != nil || len(key) != 33 || key[0] != 0x04 {
		fail("witness vkey %q", vkey)
	}
	return &cosigner{parts[0], uint32(hash), ed25519.PublicKey(key[1:])}
}

// tiles reads C2SP tlog-tiles over HTTP: tlog writes sumdb paths (tile/8/L/N,
// tile/8/data/N), which C2SP spells tile/L/N and tile/entries/N.
type tiles struct{}

func (tiles) Height() int { return 8 }
func (tiles) ReadTiles(ts []tlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(ts))
	for i, t := range ts {
		out[i] = get(c2spPath(t))
		if len(out[i]) != t.W*tlog.HashSize {
			return nil, fmt.Errorf("tile %s: %d bytes", c2spPath(t), len(out[i]))
		}
	}
	return out, nil
}
func (tiles) SaveTiles([]tlog.Tile, [][]byte) {}

func c2spPath(t tlog.Tile) string {
	p := strings.Replace(t.Path(), "tile/8/data/", "tile/entries/", 1)
	return strings.Replace(p, "tile/8/", "tile/", 1)
}

type checkpoint struct {
	origin string
	tree   tlog.Tree
}

func openCheckpoint(msg []byte, verifiers note.Verifiers, cosigners []*cosigner) checkpoint {
	n, err := note.Open(msg, verifiers)
	if err != nil {
		fail("note.Open: %v", err)
	}
	for _, c := range cosigners {
		found := false
		for _, s := range n.Sigs {
			found = found || (s.Name == c.name && s.Hash == c.hash)
		}
		if !found {
			fail("no valid cosignature by %s", c.name)
		}
	}
	lines := strings.Split(n.Text, "\n")
	if len(lines) < 4 {
		fail("checkpoint text %q", n.Text)
	}
	size, err1 := strconv.ParseInt(lines[1], 10, 64)
	root, err2 := base64.StdEncoding.DecodeString(lines[2])
	if err1 != nil || err2 != nil || len(root) != tlog.HashSize {
		fail("checkpoint text %q", n.Text)
	}
	var h tlog.Hash
	copy(h[:], root)
	return checkpoint{lines[0], tlog.Tree{N: size, Hash: h}}
}

func hexHash(s string) tlog.Hash {
	raw, err := hex.DecodeString(s)
	if err != nil || len(raw) != tlog.HashSize {
		fail("hash %q", s)
	}
	var h tlog.Hash
	copy(h[:], raw)
	return h
}

func hexHashes(list []string) []tlog.Hash {
	out := make([]tlog.Hash, len(list))
	for i, s := range list {
		out[i] = hexHash(s)
	}
	return out
}

type savedCheckpoint struct {
	TreeSize int64  `json:"tree_size"`
	Root     string `json:"root"`
	Note     string `json:"note"`
}

type bundle struct {
	Checkpoint savedCheckpoint `json:"checkpoint"`
	Events     []struct {
		LeafIndex int64    `json:"leaf_index"`
		LeafHash  string   `json:"leaf_hash"`
		Path      []string `json:"path"`
	} `json:"events"`
	Consistency []struct {
		From  savedCheckpoint `json:"from"`
		Proof []string        `json:"proof"`
	} `json:"consistency"`
}

func entry(hr tlog.HashReader, tree tlog.Tree, index int64) []byte {
	t := tlog.TileForIndex(8, tlog.StoredHashIndex(0, index))
	t.L = -1
	data := get(c2spPath(t))
	for k := int64(0); len(data) >= 2; k++ {
		size := int(binary.BigEndian.Uint16(data))
		if len(data) < 2+size {
			fail("entry bundle %s is cut short", c2spPath(t))
		}
		if t.N*256+k == index {
			return data[2 : 2+size]
		}
		data = data[2+size:]
	}
	fail("entry %d is not in %s", index, c2spPath(t))
	return nil
}

func main() {
	flag.Var(&witnesses, "witness", "a witness's cosignature vkey (repeatable)")
	flag.Parse()
	logKey, err := note.NewVerifier(*vkey)
	if err != nil {
		fail("note.NewVerifier: %v", err)
	}
	known := []note.Verifier{logKey}
	var cosigners []*cosigner
	for _, w := range witnesses {
		c := newCosigner(w)
		cosigners = append(cosigners, c)
		known = append(known, c)
	}
	verifiers := note.VerifierList(known...)

	cp := openCheckpoint(get("checkpoint"), verifiers, cosigners)
	fmt.Printf("ok note %s %d cosigned by %d\n", cp.origin, cp.tree.N, len(cosigners))

	hr := tlog.TileHashReader(cp.tree, tiles{})
	root, err := tlog.TreeHash(cp.tree.N, hr)
	if err != nil || root != cp.tree.Hash {
		fail("tree hash from tiles: %v %v", root, err)
	}
	fmt.Printf("ok tiles %d\n", cp.tree.N)

	if *exportID == "" {
		return
	}
	path := fmt.Sprintf("api/exports/%s/proof?tree_size=%d", *exportID, cp.tree.N)
	if *since > 0 {
		path += fmt.Sprintf("&since=%d", *since)
	}
	var b bundle
	if err := json.Unmarshal(get(path), &b); err != nil {
		fail("bundle: %v", err)
	}
	signed := openCheckpoint([]byte(b.Checkpoint.Note), verifiers, nil)
	if signed.tree != cp.tree || hexHash(b.Checkpoint.Root) != cp.tree.Hash {
		fail("the bundle's checkpoint is not the latest")
	}
	for _, e := range b.Events {
		leaf := hexHash(e.LeafHash)
		if err := tlog.CheckRecord(hexHashes(e.Path), cp.tree.N, cp.tree.Hash, e.LeafIndex, leaf); err != nil {
			fail("inclusion of leaf %d: %v", e.LeafIndex, err)
		}
		proof, err := tlog.ProveRecord(cp.tree.N, e.LeafIndex, hr)
		if err != nil || tlog.CheckRecord(proof, cp.tree.N, cp.tree.Hash, e.LeafIndex, leaf) != nil {
			fail("inclusion of leaf %d from tiles: %v", e.LeafIndex, err)
		}
		if tlog.RecordHash(entry(hr, cp.tree, e.LeafIndex)) != leaf {
			fail("entry %d does not hash to its leaf", e.LeafIndex)
		}
		fmt.Printf("ok inclusion %d\n", e.LeafIndex)
	}
	for _, c := range b.Consistency {
		older := openCheckpoint([]byte(c.From.Note), verifiers, nil)
		err := tlog.CheckTree(hexHashes(c.Proof), cp.tree.N, cp.tree.Hash, older.tree.N, older.tree.Hash)
		if err != nil {
			fail("consistency %d -> %d: %v", older.tree.N, cp.tree.N, err)
		}
		proof, err := tlog.ProveTree(cp.tree.N, older.tree.N, hr)
		if err != nil || tlog.CheckTree(proof, cp.tree.N, cp.tree.Hash, older.tree.N, older.tree.Hash) != nil {
			fail("consistency %d -> %d from tiles: %v", older.tree.N, cp.tree.N, err)
		}
		fmt.Printf("ok consistency %d %d\n", older.tree.N, cp.tree.N)
	}
}
