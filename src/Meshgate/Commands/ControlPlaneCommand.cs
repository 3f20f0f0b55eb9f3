using System.CommandLine;
using System.Net;
using Meshgate.Configuration.Model;
using Meshgate.Mesh.ControlPlane;
using Meshgate.Mesh.V1;
using Meshgate.Roles.ControlPlane;

namespace Meshgate.Commands;

internal static class ControlPlaneCommand
{
    public static Command Create()
    {
        var listen = new Option<string>("--listen") { Description = "IP:port of the gRPC listener (registry, config distribution, certificate authority): TLS unless --insecure-plaintext.", DefaultValueFactory = _ => "127.0.0.1:15010" };
        var admin = new Option<string>("--admin") { Description = "IP:port of the admin HTTP API (no authentication: keep it on loopback).", DefaultValueFactory = _ => "127.0.0.1:15011" };
        var policies = new Option<string?>("--policies") { Description = "YAML file of mesh-wide policies (timeouts, retries, traffic splits, allow rules); reloaded on SIGHUP." };
        var state = new Option<string?>("--state") { Description = "JSON file the registry and policies are saved to on each change and restored from at start." };
        var store = new Option<string?>("--store") { Description = "Keep registrations and policies in etcd (etcd://host:port[,host:port...]) so several control-plane replicas serve one mesh; exclusive with --state. Default: in memory (with --state, saved to a file)." };
        var etcdPrefix = new Option<string>("--etcd-prefix") { Description = "Key prefix under which the mesh lives in etcd (one prefix, one mesh).", DefaultValueFactory = _ => "/meshgate/" };
        var ttl = new Option<string>("--ttl") { Description = "How long an instance stays registered without a heartbeat (e.g. 30s).", DefaultValueFactory = _ => "30s" };
        var caStateDir = new Option<string?>("--ca-state-dir") { Description = "Turns the certificate authority on with a self-made root kept in this directory (made on first start; key files mode 0600)." };
        var caIntermediateCert = new Option<string?>("--ca-intermediate-cert") { Description = "Turns the certificate authority on, signing with this intermediate (PEM) that your own CA signed." };
        var caIntermediateKey = new Option<string?>("--ca-intermediate-key") { Description = "The intermediate's private key (PEM, PKCS#8)." };
        var caTrustBundle = new Option<string?>("--ca-trust-bundle") { Description = "Your CA's root certificate(s) (PEM), when the intermediate file does not end with the root." };
        var caTrustDomain = new Option<string>("--ca-trust-domain") { Description = "SPIFFE trust domain of the workload certificates.", DefaultValueFactory = _ => "mesh.local" };
        var caTokens = new Option<string?>("--ca-tokens-file") { Description = "Bootstrap tokens, one per line: <namespace> <service> <sha256 of the token> [dns names...] (hashes from `meshgate hash-key`)." };
        var caLeafLifetime = new Option<string>("--ca-leaf-lifetime") { Description = "Lifetime of a workload certificate.", DefaultValueFactory = _ => "24h" };
        var caRotationOverlap = new Option<string>("--ca-rotation-overlap") { Description = "How long a replaced root stays trusted.", DefaultValueFactory = _ => "48h" };
        var insecurePlaintext = new Option<bool>("--insecure-plaintext") { Description = "Serve gRPC as h2c (HTTP/2 without TLS): bootstrap tokens and registrations cross the network readable. For tests and demos only." };
        var tlsCert = new Option<string?>("--tls-cert") { Description = "PEM certificate (then its intermediates) for the gRPC listener, instead of one issued by the control plane's own CA." };
        var tlsKey = new Option<string?>("--tls-key") { Description = "The private key of --tls-cert (PEM)." };
        var tlsSan = new Option<string[]>("--tls-san") { Description = "A host name or IP address clients reach the control plane at, added to the serving certificate the CA issues (repeatable; localhost, 127.0.0.1 and the --listen IP are always in).", AllowMultipleArgumentsPerToken = false, Arity = ArgumentArity.ZeroOrMore };
        var writeTrustBundle = new Option<string?>("--write-trust-bundle") { Description = "Write the CA's trust bundle (PEM) to this file at start and after each root rotation: give it to workloads as mesh.controlPlaneCa." };
        var command = new Command("control-plane", "Run the mesh control plane: service registry, config distribution and (with --ca-state-dir or --ca-intermediate-cert) the certificate authority over gRPC, plus an admin API.")
        {
            listen, admin, policies, state, store, etcdPrefix, ttl,
            caStateDir, caIntermediateCert, caIntermediateKey, caTrustBundle, caTrustDomain, caTokens, caLeafLifetime, caRotationOverlap,
            insecurePlaintext, tlsCert, tlsKey, tlsSan, writeTrustBundle,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var error = parse.InvocationConfiguration.Error;
            if (!TryEndPoint(parse.GetValue(listen)!, "--listen", error, out var listenEndPoint)
                || !TryEndPoint(parse.GetValue(admin)!, "--admin", error, out var adminEndPoint))
            {
                return 1;
            }
            if (!Duration.TryParse(parse.GetValue(ttl)!, out var ttlValue) || ttlValue < TimeSpan.FromSeconds(1))
            {
                error.WriteLine($"--ttl: expected a duration of at least 1s with a unit (30s, 2m), got '{parse.GetValue(ttl)}'");
                return 1;
            }
            Mesh.ControlPlane.Etcd.EtcdStoreOptions? etcd = null;
            if (parse.GetValue(store) is { } storeUrl)
            {
                if (!Mesh.ControlPlane.Etcd.EtcdStoreOptions.TryParse(storeUrl, out var endpoints, out var storeError))
                {
                    error.WriteLine($"--store: {storeError}");
                    return ConfigOption.InvalidConfigExitCode;
                }
                if (Mesh.ControlPlane.Etcd.EtcdStoreOptions.ValidatePrefix(parse.GetValue(etcdPrefix)!) is { } prefixError)
                {
                    error.WriteLine($"--etcd-prefix: {prefixError}");
                    return ConfigOption.InvalidConfigExitCode;
                }
                if (parse.GetValue(state) is not null)
                {
                    error.WriteLine("--state and --store are exclusive: with --store etcd://... the registry and the policies live in etcd");
                    return ConfigOption.InvalidConfigExitCode;
                }
                if (parse.GetValue(caStateDir) is not null)
                {
                    error.WriteLine("--ca-state-dir cannot be used with --store etcd://...: every replica must sign with the same CA, so give them all the same --ca-intermediate-cert and --ca-intermediate-key (see docs/mesh.md)");
                    return ConfigOption.InvalidConfigExitCode;
                }
                etcd = new Mesh.ControlPlane.Etcd.EtcdStoreOptions { Endpoints = endpoints, Prefix = parse.GetValue(etcdPrefix)! };
            }
            MeshPolicies? loaded = null;
            var policiesPath = parse.GetValue(policies);
            if (policiesPath is not null)
            {
                var result = MeshPolicyFile.Load(policiesPath);
                if (result.Policies is null)
                {
                    foreach (var e in result.Errors) error.WriteLine($"{policiesPath}: {e}");
                    error.WriteLine($"{result.Errors.Count} error{(result.Errors.Count == 1 ? "" : "s")}: the control plane did not start");
                    return ConfigOption.InvalidConfigExitCode;
                }
                loaded = result.Policies;
            }
            Mesh.CertificateAuthority.CertificateAuthorityOptions? ca = null;
            if (parse.GetValue(caStateDir) is not null || parse.GetValue(caIntermediateCert) is not null || parse.GetValue(caIntermediateKey) is not null)
            {
                if (!Duration.TryParse(parse.GetValue(caLeafLifetime)!, out var leafLifetime) || !Duration.TryParse(parse.GetValue(caRotationOverlap)!, out var overlap))
                {
                    error.WriteLine($"--ca-leaf-lifetime and --ca-rotation-overlap: expected durations with a unit (24h, 90m), got '{parse.GetValue(caLeafLifetime)}' and '{parse.GetValue(caRotationOverlap)}'");
                    return 1;
                }
                ca = new Mesh.CertificateAuthority.CertificateAuthorityOptions
                {
                    TrustDomain = parse.GetValue(caTrustDomain)!,
                    StateDirectory = parse.GetValue(caStateDir),
                    IntermediateCertificateFile = parse.GetValue(caIntermediateCert),
                    IntermediateKeyFile = parse.GetValue(caIntermediateKey),
                    TrustBundleFile = parse.GetValue(caTrustBundle),
                    LeafLifetime = leafLifetime,
                    RotationOverlap = overlap,
                };
                try
                {
                    if (parse.GetValue(caTokens) is { } tokensFile)
                    {
                        foreach (var token in Mesh.CertificateAuthority.BootstrapTokensFile.Load(tokensFile)) ca.Tokens.Add(token);
                    }
                }
                catch (Exception e) when (e is FormatException or IOException or UnauthorizedAccessException)
                {
                    error.WriteLine($"--ca-tokens-file: {e.Message}");
                    return 1;
                }
                if (ca.Validate() is { Count: > 0 } problems)
                {
                    foreach (var problem in problems) error.WriteLine($"certificate authority: {problem}");
                    return 1;
                }
            }
            if (TlsOf(parse.GetValue(insecurePlaintext), parse.GetValue(tlsCert), parse.GetValue(tlsKey), parse.GetValue(tlsSan) ?? [], parse.GetValue(writeTrustBundle), ca is not null, listenEndPoint, error, out var tls) is { } tlsExit)
                return tlsExit;
            var options = new ControlPlaneOptions
            {
                Listen = listenEndPoint, Admin = adminEndPoint, Ttl = ttlValue, StatePath = parse.GetValue(state), Etcd = etcd, CertificateAuthority = ca,
                Tls = tls, TrustBundleFile = parse.GetValue(writeTrustBundle),
            };
            ControlPlaneHost host;
            try
            {
                host = ControlPlaneHost.Create(options, loaded, policiesPath);
            }
            catch (InvalidDataException e)
            {
                error.WriteLine($"cannot start: {e.Message}");
                return 1;
            }
            await using (host)
            {
                try
                {
                    await host.StartAsync();
                }
                catch (Exception e) when (e is IOException or InvalidOperationException or System.Security.Cryptography.CryptographicException or MeshStoreUnavailableException)
                {
                    // A port in use, a certificate authority whose files are unusable (checked when the host starts), or etcd unreachable.
                    error.WriteLine($"cannot start: {e.Message}");
                    return 1;
                }
                StartupGarbage.Collect();
                // The command's token (Ctrl+C, or a test running the command in-process) stops it like SIGTERM does.
                await using var stopOnCancel = cancellationToken.Register(() => _ = host.Server.StopAsync(CancellationToken.None));
                await host.RunUntilShutdownAsync();
            }
            return 0;
        });
        return command;
    }

    /// <summary>
    /// The gRPC listener's TLS from the flags: the supplied certificate, else one the CA issues, else (only when asked for)
    /// plaintext. Returns the exit code of a usage error (printed), or null.
    /// </summary>
    private static int? TlsOf(bool plaintext, string? cert, string? key, string[] sans, string? bundleFile, bool hasCa, IPEndPoint listen, TextWriter error, out Mesh.ControlPlane.Tls.ControlPlaneTlsOptions? tls)
    {
        tls = null;
        if (plaintext && (cert is not null || key is not null || sans.Length > 0))
        {
            error.WriteLine("--insecure-plaintext serves h2c without TLS: it cannot be combined with --tls-cert, --tls-key or --tls-san");
            return ConfigOption.InvalidConfigExitCode;
        }
        if (bundleFile is not null && !hasCa)
        {
            error.WriteLine("--write-trust-bundle writes the certificate authority's roots: turn the CA on (--ca-state-dir or --ca-intermediate-cert)");
            return ConfigOption.InvalidConfigExitCode;
        }
        if (plaintext) return null;
        if ((cert is null) != (key is null))
        {
            error.WriteLine("--tls-cert and --tls-key go together: the certificate and its private key (PEM)");
            return ConfigOption.InvalidConfigExitCode;
        }
        if (cert is not null)
        {
            if (sans.Length > 0)
            {
                error.WriteLine("--tls-san names the certificate the CA issues; with --tls-cert the names are the ones in that certificate");
                return ConfigOption.InvalidConfigExitCode;
            }
            foreach (var (flag, file) in new[] { ("--tls-cert", cert), ("--tls-key", key!) })
            {
                if (!File.Exists(file))
                {
                    error.WriteLine($"{flag}: file '{file}' does not exist");
                    return ConfigOption.InvalidConfigExitCode;
                }
            }
            tls = new Mesh.ControlPlane.Tls.ControlPlaneTlsOptions { CertificateFile = cert, KeyFile = key };
            return null;
        }
        if (!hasCa)
        {
            error.WriteLine("the gRPC listener serves TLS, and without the certificate authority nothing issues its certificate: give --tls-cert and --tls-key, turn the CA on (--ca-state-dir or --ca-intermediate-cert), or pass --insecure-plaintext (tests and demos only)");
            return ConfigOption.InvalidConfigExitCode;
        }
        foreach (var san in sans)
        {
            if (!IPAddress.TryParse(san, out _) && Uri.CheckHostName(san) != UriHostNameType.Dns)
            {
                error.WriteLine($"--tls-san: '{san}' is neither a host name nor an IP address");
                return ConfigOption.InvalidConfigExitCode;
            }
        }
        List<string> names = ["localhost", "127.0.0.1"];
        if (!listen.Address.Equals(IPAddress.Any) && !listen.Address.Equals(IPAddress.IPv6Any)) names.Add(listen.Address.ToString());
        names.AddRange(sans);
        tls = new Mesh.ControlPlane.Tls.ControlPlaneTlsOptions { SubjectAlternativeNames = [.. names.Distinct(StringComparer.OrdinalIgnoreCase)] };
        return null;
    }

    private static bool TryEndPoint(string text, string option, TextWriter error, out IPEndPoint endPoint)
    {
        if (IPEndPoint.TryParse(text, out endPoint!) && endPoint.Port is >= 0 and <= 65535 && text.Contains(':', StringComparison.Ordinal)) return true;
        error.WriteLine($"{option}: expected IP:port (e.g. 127.0.0.1:15010), got '{text}'");
        return false;
    }
}
