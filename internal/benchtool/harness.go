package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/cloudchain/cloudchain"
	"github.com/cloudchain/cloudchain/config"
	"github.com/cloudchain/cloudchain/internal/kmstest"
	"github.com/cloudchain/cloudchain/internal/ststest"
)

const (
	region    = "us-east-1"
	table     = "benchdb"
	getSvc    = "bench"
	getUser   = "user-0000"
	putUser   = "user-0001"
	localSvc  = "local"
	localUser = "alice"
)

// harness holds the servers, proxies, binaries and environments of one run.
type harness struct {
	f   *benchFlags
	dir string

	dynalite, kms *process
	sts           *ststest.Server
	ddbProxy      *proxy
	kmsProxy      *proxy
	stsProxy      *proxy
	keyARN        string

	awsEnv, floorEnv, localEnv []string
	bulkCmd                    []string
	bulkNote                   string
	rssNote                    string

	loadBefore string
}

func (h *harness) bin(name string) string { return filepath.Join(h.dir, "bin", name) }

// blob is the file holding a KMS ciphertext under service's context.
func (h *harness) blob(service string) string { return filepath.Join(h.dir, "blob-"+service) }

func newHarness(ctx context.Context, f *benchFlags) (_ *harness, err error) {
	if _, err := os.Stat("go.mod"); err != nil {
		return nil, errors.New("run benchtool from the repo root (scripts/bench does)")
	}
	h := &harness{f: f, loadBefore: loadAverage()}
	if h.dir, err = os.MkdirTemp("", "cchain-bench-"); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			h.close()
		}
	}()
	for _, d := range []string{"bin", "home", "local"} {
		if err := os.MkdirAll(filepath.Join(h.dir, d), 0o700); err != nil {
			return nil, err
		}
	}
	logf("building cchain and the helpers")
	if err := buildAll(ctx, filepath.Join(h.dir, "bin")); err != nil {
		return nil, err
	}
	logf("starting dynalite, the KMS test server and the STS test server")
	var ddbURL, kmsURL string
	if h.dynalite, ddbURL, err = startDynalite(ctx); err != nil {
		return nil, err
	}
	if h.kms, kmsURL, h.keyARN, err = startKMS(ctx, h.bin("kmstestd")); err != nil {
		return nil, err
	}
	h.sts = ststest.New("arn:aws:iam::111122223333:user/bench")
	if h.ddbProxy, err = newProxy("dynamodb", ddbURL, f.ddbLatency); err != nil {
		return nil, err
	}
	if h.kmsProxy, err = newProxy("kms", kmsURL, f.kmsLatency); err != nil {
		return nil, err
	}
	if h.stsProxy, err = newProxy("sts", h.sts.URL(), f.kmsLatency); err != nil {
		return nil, err
	}

	// The harness's own environment is what config.Open and the SDK read
	// when it populates the table; the children get a clean environment.
	common := []string{
		"AWS_ACCESS_KEY_ID=" + kmstest.AccessKeyID,
		"AWS_SECRET_ACCESS_KEY=" + kmstest.SecretAccessKey,
		"AWS_REGION=" + region,
		"AWS_EC2_METADATA_DISABLED=true",
		"AWS_CONFIG_FILE=" + filepath.Join(h.dir, "no-aws-config"),
		"AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(h.dir, "no-aws-credentials"),
		"AWS_ENDPOINT_URL_STS=" + h.stsProxy.url,
		"HOME=" + filepath.Join(h.dir, "home"),
		"PATH=" + os.Getenv("PATH"),
	}
	direct, err := h.writeConfig("direct.cchainrc", ddbURL, kmsURL)
	if err != nil {
		return nil, err
	}
	proxied, err := h.writeConfig("proxied.cchainrc", h.ddbProxy.url, h.kmsProxy.url)
	if err != nil {
		return nil, err
	}
	for _, kv := range append(common, "CLOUDCHAIN_CONFIG="+direct) {
		k, v, _ := strings.Cut(kv, "=")
		os.Setenv(k, v)
	}
	for _, k := range []string{"AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL_KMS", "AWS_CA_BUNDLE", "AWS_SESSION_TOKEN", "CLOUDCHAIN_DATA_DIR", "CLOUDCHAIN_BACKEND", "CLOUDCHAIN_TABLE", "CLOUDCHAIN_KMS_KEY"} {
		os.Unsetenv(k)
	}
	h.awsEnv = append(common[:len(common):len(common)], "CLOUDCHAIN_CONFIG="+proxied)
	h.floorEnv = append(common[:len(common):len(common)],
		"AWS_ENDPOINT_URL_DYNAMODB="+h.ddbProxy.url,
		"AWS_ENDPOINT_URL_KMS="+h.kmsProxy.url)
	h.localEnv = []string{
		"HOME=" + filepath.Join(h.dir, "home"),
		"CLOUDCHAIN_DATA_DIR=" + filepath.Join(h.dir, "local"),
		"PATH=" + os.Getenv("PATH"),
	}

	logf("creating the table and filling services of %v secrets", f.sizes)
	if err := h.populate(ctx); err != nil {
		return nil, err
	}
	if err := h.chooseBulkCommand(ctx); err != nil {
		return nil, err
	}
	return h, nil
}

func (h *harness) writeConfig(name, ddbURL, kmsURL string) (string, error) {
	cfg := fmt.Sprintf("[dynamo]\nregion_name = %s\nendpoint_url = %s\ntablename = %s\n\n[IAMKMS]\nkeyalias = alias/cloudchain\n\n[kms]\nendpoint_url = %s\n",
		region, ddbURL, table, kmsURL)
	path := filepath.Join(h.dir, name)
	return path, os.WriteFile(path, []byte(cfg), 0o600)
}

func (h *harness) close() {
	for _, p := range []*proxy{h.ddbProxy, h.kmsProxy, h.stsProxy} {
		if p != nil {
			p.close()
		}
	}
	if h.sts != nil {
		h.sts.Close()
	}
	h.kms.stop()
	h.dynalite.stop()
	if h.dir != "" {
		if h.f.keep {
			logf("kept %s", h.dir)
		} else {
			os.RemoveAll(h.dir)
		}
	}
}

// populate creates the table with `cchain setup` and fills the services
// through Store.PutMany, straight to the servers (not through the proxies).
func (h *harness) populate(ctx context.Context) error {
	setup := exec.CommandContext(ctx, h.bin("cchain"), "setup")
	setup.Env = os.Environ()
	if out, err := setup.CombinedOutput(); err != nil {
		return fmt.Errorf("cchain setup: %w\n%s", err, out)
	}
	cfg, err := config.Load(os.LookupEnv, config.Overrides{})
	if err != nil {
		return err
	}
	st, err := cfg.Open(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	services := map[string]int{getSvc: 10}
	for _, n := range h.f.sizes {
		services[bulkService(n)] = n
	}
	for svc, n := range services {
		start := time.Now()
		values := make([]cloudchain.SecretValue, n)
		for i := range values {
			values[i] = cloudchain.SecretValue{User: fmt.Sprintf("user-%04d", i), Value: randomValue()}
		}
		if _, err := st.PutMany(ctx, svc, values); err != nil {
			return fmt.Errorf("filling %s: %w", svc, err)
		}
		logf("filled %s with %d secrets in %s", svc, n, time.Since(start).Round(time.Millisecond))
	}

	// A KMS ciphertext under the service's context, for the floor's Decrypt.
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		return err
	}
	kc := kms.NewFromConfig(awsCfg, func(o *kms.Options) { o.BaseEndpoint = aws.String(cfg.KMSEndpoint) })
	for svc := range services {
		out, err := kc.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{
			KeyId:             aws.String(h.keyARN),
			KeySpec:           kmstypes.DataKeySpecAes256,
			EncryptionContext: map[string]string{"service": svc},
		})
		if err != nil {
			return fmt.Errorf("making the floor's ciphertext: %w", err)
		}
		clear(out.Plaintext)
		if err := os.WriteFile(h.blob(svc), out.CiphertextBlob, 0o600); err != nil {
			return err
		}
	}

	// The embedded store: the first put creates the key and the file.
	put := exec.CommandContext(ctx, h.bin("cchain"), "put", localSvc, localUser, "-")
	put.Env = h.localEnv
	put.Stdin = bytes.NewReader(randomValue())
	if out, err := put.CombinedOutput(); err != nil {
		return fmt.Errorf("cchain put on the embedded store: %w\n%s", err, out)
	}
	return nil
}

func bulkService(n int) string { return fmt.Sprintf("bulk%d", n) }

// randomValue is a 40-character secret, like a token or a password.
func randomValue() []byte {
	b := make([]byte, 20)
	rand.Read(b)
	return []byte(hex.EncodeToString(b))
}

// chooseBulkCommand uses `cchain env SERVICE` when cchain has it, and the
// bulkread helper (config.Open + Store.GetServices) otherwise.
func (h *harness) chooseBulkCommand(ctx context.Context) error {
	useEnv := h.f.bulk == "env"
	if h.f.bulk == "auto" {
		probe := exec.CommandContext(ctx, h.bin("cchain"), "env", "--help")
		probe.Env = h.awsEnv
		useEnv = probe.Run() == nil
	}
	if useEnv {
		h.bulkCmd = []string{h.bin("cchain"), "env"}
		h.bulkNote = "`cchain env SERVICE` (prints `export NAME=value` lines; output to /dev/null)"
		return nil
	}
	h.bulkCmd = []string{h.bin("bulkread")}
	h.bulkNote = "`internal/benchtool/bulkread SERVICE` (config.Open + Store.GetServices, the library call under `env`, `exec` and export; output to /dev/null)"
	return nil
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "benchtool: "+format+"\n", args...)
}
