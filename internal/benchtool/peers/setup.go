package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kms"
)

const getUser = "user-0000"

// bench holds the servers, binaries and environments of one run.
type bench struct {
	f     *flags
	dir   string
	moto  *moto
	proxy *counter

	cchainEnv, credstashEnv []string // chamber uses credstashEnv: the SDK's own variables
	setups                  []setupResult
	versions                map[string]string
	values                  map[int]map[string]string // size -> user -> value, to check outputs
}

type setupResult struct {
	tool     string
	n        int
	how      string
	wall     time.Duration
	requests map[string]int
}

func (b *bench) bin(name string) string { return filepath.Join(b.dir, "bin", name) }

func service(n int) string        { return fmt.Sprintf("svc%d", n) }
func credstashTable(n int) string { return fmt.Sprintf("credstash-%d", n) }

// cchainEnvFor is cchain's environment for the service of size n: a table
// of its own, as credstash gets. DynamoDB's Query costs what the partition
// holds, but moto's grows with the whole table (a 10-secret Query took about
// 11 ms more in a table that also held 1,100 other items).
func (b *bench) cchainEnvFor(n int) []string {
	return append(b.cchainEnv[:len(b.cchainEnv):len(b.cchainEnv)], fmt.Sprintf("CLOUDCHAIN_TABLE=cchain-%d", n))
}

// credstash returns the argv of a credstash command on the table of size n.
func (b *bench) credstash(n int, args ...string) []string {
	return append([]string{b.f.python, b.f.credstash, "--log-file", filepath.Join(b.dir, "credstash.log"),
		"-t", credstashTable(n)}, args...)
}

func newBench(ctx context.Context, f *flags) (_ *bench, err error) {
	if _, err := os.Stat("go.mod"); err != nil {
		return nil, fmt.Errorf("run from the repo root (scripts/bench-peers does): %w", err)
	}
	if f.credstash, err = filepath.Abs(f.credstash); err != nil {
		return nil, err
	}
	if _, err := os.Stat(f.credstash); err != nil {
		return nil, fmt.Errorf("credstash: %w", err)
	}
	if f.chamber != "" {
		if f.chamber, err = filepath.Abs(f.chamber); err != nil {
			return nil, err
		}
		if _, err := os.Stat(f.chamber); err != nil {
			return nil, fmt.Errorf("chamber: %w", err)
		}
	}
	b := &bench{f: f, versions: map[string]string{}, values: map[int]map[string]string{}}
	if b.dir, err = os.MkdirTemp("", "cchain-peers-"); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			b.close()
		}
	}()
	for _, d := range []string{"bin", "home", "data"} {
		if err := os.MkdirAll(filepath.Join(b.dir, d), 0o700); err != nil {
			return nil, err
		}
	}
	// The interpreter itself, not a version manager's shim (pyenv's is a
	// shell script that would add its own start-up to every credstash run).
	check := exec.CommandContext(ctx, f.python, "-c", "import sys, boto3, cryptography; print(sys.executable); print('Python %d.%d.%d' % sys.version_info[:3], 'boto3', boto3.__version__, 'cryptography', cryptography.__version__)")
	out, err := check.CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("credstash needs boto3 and cryptography in %s: %w\n%s", f.python, err, out)
	}
	exe, libs, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	f.python = exe
	b.versions["python libraries"] = libs
	if out, err := exec.CommandContext(ctx, f.python, "-c", "import moto; print(moto.__version__)").Output(); err == nil {
		b.versions["moto"] = "moto " + strings.TrimSpace(string(out))
	}
	logf("building cchain")
	build := exec.CommandContext(ctx, "go", "build", "-o", b.bin("cchain"), "./cmd/cchain")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		return nil, fmt.Errorf("building cchain: %w", err)
	}
	logf("starting moto_server")
	if b.moto, err = startMoto(ctx, f.moto); err != nil {
		return nil, err
	}
	if b.proxy, err = newCounter(b.moto.url, map[string]time.Duration{"KMS": f.kmsLatency, "DynamoDB": f.ddbLatency, "SSM": f.ssmLatency}); err != nil {
		return nil, err
	}
	common := append(fakeAWSEnv(), "AWS_ENDPOINT_URL="+b.proxy.url, "HOME="+filepath.Join(b.dir, "home"), "PATH="+os.Getenv("PATH"))
	rc := fmt.Sprintf("[dynamo]\nregion_name = %s\nendpoint_url = %s\ntablename = %s\n\n[IAMKMS]\nkeyalias = alias/cloudchain\n\n[kms]\nendpoint_url = %s\n",
		region, b.proxy.url, "peersdb", b.proxy.url)
	if err := os.WriteFile(filepath.Join(b.dir, "cchainrc"), []byte(rc), 0o600); err != nil {
		return nil, err
	}
	b.cchainEnv = append(common[:len(common):len(common)], "CLOUDCHAIN_CONFIG="+filepath.Join(b.dir, "cchainrc"))
	b.credstashEnv = common

	if err := b.createKeys(ctx); err != nil {
		return nil, err
	}
	for _, n := range f.sizes {
		if err := b.fill(ctx, n); err != nil {
			return nil, err
		}
	}
	return b, nil
}

// createKeys makes the KMS keys of each tool in moto.
func (b *bench) createKeys(ctx context.Context) error {
	client := kms.NewFromConfig(aws.Config{
		Region:       region,
		BaseEndpoint: aws.String(b.proxy.url),
		Credentials:  credentials.NewStaticCredentialsProvider(accessKeyID, secretAccessKey, ""),
		HTTPClient:   &http.Client{Transport: &http.Transport{Proxy: nil}, Timeout: 30 * time.Second},
	})
	// alias/parameter_store_key is chamber's default key for SSM SecureStrings.
	for _, alias := range []string{"alias/credstash", "alias/cloudchain", "alias/parameter_store_key"} {
		out, err := client.CreateKey(ctx, &kms.CreateKeyInput{Description: aws.String("peers benchmark " + alias)})
		if err != nil {
			return fmt.Errorf("creating a KMS key in moto: %w", err)
		}
		if _, err := client.CreateAlias(ctx, &kms.CreateAliasInput{AliasName: aws.String(alias), TargetKeyId: out.KeyMetadata.KeyId}); err != nil {
			return fmt.Errorf("creating the alias %s in moto: %w", alias, err)
		}
	}
	return nil
}

// fill writes n secrets with each tool: `cchain import` (one service),
// `credstash setup` + `credstash putall` (one table) and `chamber import`
// (one service), timing each.
func (b *bench) fill(ctx context.Context, n int) error {
	values := make(map[string]string, n)
	for i := range n {
		v := make([]byte, 20)
		rand.Read(v)
		values[fmt.Sprintf("user-%04d", i)] = hex.EncodeToString(v)
	}
	b.values[n] = values
	data, err := json.Marshal(values)
	if err != nil {
		return err
	}
	file := filepath.Join(b.dir, "data", fmt.Sprintf("secrets-%d.json", n))
	if err := os.WriteFile(file, data, 0o600); err != nil {
		return err
	}
	steps := []struct {
		tool, how string
		argv      []string
		env       []string
	}{
		{"cchain", "`cchain setup` (its own table)", []string{b.bin("cchain"), "setup"}, b.cchainEnvFor(n)},
		{"cchain", "`cchain import FILE --service SERVICE`", []string{b.bin("cchain"), "import", file, "--service", service(n)}, b.cchainEnvFor(n)},
		{"credstash", "`credstash setup` (its own table)", b.credstash(n, "setup"), b.credstashEnv},
		{"credstash", "`credstash putall @FILE`", b.credstash(n, "putall", "@"+file), b.credstashEnv},
	}
	if b.f.chamber != "" {
		steps = append(steps, struct {
			tool, how string
			argv      []string
			env       []string
		}{"chamber", "`chamber import SERVICE FILE`", []string{b.f.chamber, "import", service(n), file}, b.credstashEnv})
	}
	for _, s := range steps {
		b.proxy.take()
		start := time.Now()
		if _, err := b.runChecked(ctx, s.env, nil, s.argv[0], s.argv[1:]...); err != nil {
			return err
		}
		r := setupResult{tool: s.tool, n: n, how: s.how, wall: time.Since(start), requests: b.proxy.take()}
		b.setups = append(b.setups, r)
		logf("%s: %s of %d secrets in %s", s.tool, s.how, n, r.wall.Round(time.Millisecond))
	}
	return nil
}

// runChecked runs a command to its end and returns its stdout; a failure
// carries the end of its stderr.
func (b *bench) runChecked(ctx context.Context, env []string, stdin []byte, name string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = env
	cmd.Dir = b.dir
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = time.Second
	if err := cmd.Run(); err != nil {
		e := stderr.String()
		if len(e) > 2000 {
			e = e[len(e)-2000:]
		}
		return nil, fmt.Errorf("%s %s: %w\n%s", filepath.Base(name), strings.Join(args, " "), err, e)
	}
	return stdout.Bytes(), nil
}

func (b *bench) close() {
	if b.proxy != nil {
		b.proxy.close()
	}
	b.moto.stop()
	if b.dir != "" {
		if b.f.keep {
			logf("kept %s", b.dir)
		} else {
			os.RemoveAll(b.dir)
		}
	}
}
