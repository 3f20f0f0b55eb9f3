using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Net.Client;
using Meshgate.Mesh.V1;
using Meshgate.Proxy.Mesh;
using Microsoft.Extensions.Logging;
using CaClient = Meshgate.Mesh.V1.CertificateAuthority.CertificateAuthorityClient;

namespace Meshgate.Mesh.Identity;

/// <summary>
/// This process's mesh identity, got from the control plane's CA and kept fresh. A new ECDSA P-256 key is made in
/// memory for every certificate (it is never exported to a file or sent anywhere); the CSR goes to the CA's Sign call
/// with the bootstrap token. The leaf is renewed when two thirds of its remaining life at arrival have passed, the
/// trust bundle is re-fetched every <see cref="WorkloadIdentityOptions.TrustBundleRefresh"/>, and while the control
/// plane is away the current certificate stays in use (until it expires) and the calls are retried with backoff.
/// </summary>
public sealed partial class WorkloadIdentity : IWorkloadIdentity, IAsyncDisposable
{
    private readonly WorkloadIdentityOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly GrpcChannel _channel;
    private readonly CaClient _ca;
    private readonly CancellationTokenSource _stop = new();
    private readonly TaskCompletionSource _first = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private volatile Issued? _current;
    private volatile string? _lastError;
    private volatile bool _refused;
    private Task? _loop;
    private int _disposed;

    /// <summary>One signed leaf with what came with it; swapped whole, so readers never see a leaf with another's bundle.</summary>
    private sealed record Issued(X509Certificate2 Certificate, X509Certificate2Collection Chain, X509Certificate2Collection TrustBundle, string SpiffeId, DateTimeOffset RenewAt, DateTimeOffset BundleRefreshAt);

    public WorkloadIdentity(WorkloadIdentityOptions options, TimeProvider time, ILogger<WorkloadIdentity> logger)
    {
        _options = options;
        _time = time;
        _logger = logger;
        _channel = GrpcChannel.ForAddress(options.ControlPlane);
        _ca = new CaClient(_channel);
    }

    /// <summary>Whether a certificate is held (it may have expired if the control plane has been away that long).</summary>
    public bool HasCertificate => _current is not null;

    /// <summary>Why the last call to the control plane failed; null after a success.</summary>
    public string? LastError => _lastError;

    public X509Certificate2 Certificate => Current.Certificate;

    public X509Certificate2Collection Chain => Current.Chain;

    public X509Certificate2Collection TrustBundle => Current.TrustBundle;

    public string SpiffeId => Current.SpiffeId;

    public string SpiffeIdOf(string service, string ns) => $"spiffe://{new Uri(SpiffeId).Host}/ns/{ns}/sa/{service}";

    private Issued Current => _current ?? throw new WorkloadIdentityUnavailableException(
        $"no workload certificate for {_options.Namespace}/{_options.Service} yet{(_lastError is { } e ? ": " + e : "")}");

    /// <summary>Starts getting the certificate and keeping it fresh, in the background.</summary>
    public void Start() => _loop ??= Task.Run(() => RunAsync(_stop.Token));

    /// <summary>
    /// Waits for the first certificate. Throws <see cref="WorkloadIdentityUnavailableException"/> at once when the CA refuses
    /// the token, and after <paramref name="timeout"/> when the control plane cannot be reached, with the reason.
    /// </summary>
    public async Task WaitForCertificateAsync(TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        Start();
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(timeout);
        while (_current is null)
        {
            if (_refused) throw new WorkloadIdentityUnavailableException($"no workload certificate for {_options.Namespace}/{_options.Service}: {_lastError}");
            try
            {
                // Wakes on the first certificate, or every 50 ms to see a refusal.
                await _first.Task.WaitAsync(TimeSpan.FromMilliseconds(50), deadline.Token);
            }
            catch (TimeoutException)
            {
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                throw new WorkloadIdentityUnavailableException(
                    $"no workload certificate for {_options.Namespace}/{_options.Service} after {timeout.TotalSeconds:0.#} s: {_lastError ?? "no answer from the control plane"}");
            }
        }
    }

    private async Task RunAsync(CancellationToken stop)
    {
        var backoff = _options.RetryInitial;
        while (!stop.IsCancellationRequested)
        {
            var now = _time.GetUtcNow();
            var current = _current;
            TimeSpan wait;
            bool ok;
            if (current is null || now >= current.RenewAt) ok = await SignAsync(stop);
            else if (now >= current.BundleRefreshAt) ok = await RefreshTrustBundleAsync(current, stop);
            else ok = true;

            if (ok)
            {
                backoff = _options.RetryInitial;
                current = _current!;
                wait = (current.RenewAt < current.BundleRefreshAt ? current.RenewAt : current.BundleRefreshAt) - _time.GetUtcNow();
            }
            else
            {
                // ±20% jitter, so many workloads that lost the control plane together do not come back in step.
                wait = backoff * (0.8 + Random.Shared.NextDouble() * 0.4);
                backoff = backoff * 2 < _options.RetryMax ? backoff * 2 : _options.RetryMax;
            }
            try
            {
                if (wait > TimeSpan.Zero) await Task.Delay(wait, _time, stop);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    private async Task<bool> SignAsync(CancellationToken stop)
    {
        try
        {
            var token = _options.Token();
            // The key lives only in this process's memory: the CA gets the CSR (the public key), never the key.
            using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
            var csr = new CertificateRequest($"CN={_options.Service}", key, HashAlgorithmName.SHA256).CreateSigningRequest();
            var signed = await _ca.SignAsync(new SignRequest { Csr = ByteString.CopyFrom(csr), BootstrapToken = token },
                deadline: DateTime.UtcNow + _options.CallTimeout, cancellationToken: stop);

            using var leaf = X509Certificate2.CreateFromPem(signed.CertificatePem);
            using var withKey = leaf.CopyWithPrivateKey(key);
            // A PKCS#12 round trip in memory gives a certificate whose key SslStream can use on every platform;
            // EphemeralKeySet keeps it out of any key store on disk.
            var certificate = X509CertificateLoader.LoadPkcs12(withKey.Export(X509ContentType.Pkcs12), null,
                OperatingSystem.IsMacOS() ? X509KeyStorageFlags.DefaultKeySet : X509KeyStorageFlags.EphemeralKeySet);
            var chain = new X509Certificate2Collection();
            if (signed.ChainPem.Length > 0) chain.ImportFromPem(signed.ChainPem);
            var bundle = Bundle(signed.TrustBundlePem);

            var now = _time.GetUtcNow();
            var notAfter = new DateTimeOffset(certificate.NotAfter.ToUniversalTime());
            // Two thirds of the life left on arrival (not since NotBefore, which the CA backdates for clock skew); never
            // sooner than the longest retry wait, so a leaf that arrives (nearly) expired cannot make a tight loop.
            var untilRenewal = (notAfter - now) * _options.RenewAt;
            var renewAt = now + (untilRenewal > _options.RetryMax ? untilRenewal : _options.RetryMax);
            var previous = _current;
            _current = new Issued(certificate, chain, bundle, signed.SpiffeId, renewAt, now + _options.TrustBundleRefresh);
            _lastError = null;
            _refused = false;
            if (previous is null) LogObtained(signed.SpiffeId, certificate.SerialNumber, notAfter, renewAt);
            else LogRenewed(signed.SpiffeId, certificate.SerialNumber, previous.Certificate.SerialNumber, notAfter, renewAt);
            _first.TrySetResult();
            return true;
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
            return false;
        }
        catch (Exception e)
        {
            Failed("get a certificate", e);
            return false;
        }
    }

    private async Task<bool> RefreshTrustBundleAsync(Issued current, CancellationToken stop)
    {
        try
        {
            var answer = await _ca.GetTrustBundleAsync(new GetTrustBundleRequest(), deadline: DateTime.UtcNow + _options.CallTimeout, cancellationToken: stop);
            var bundle = Bundle(answer.TrustBundlePem);
            var changed = !bundle.Cast<X509Certificate2>().Select(c => c.Thumbprint).Order().SequenceEqual(current.TrustBundle.Cast<X509Certificate2>().Select(c => c.Thumbprint).Order());
            // Only this loop replaces _current, so the renewal time read here is still the one in force.
            _current = current with { TrustBundle = changed ? bundle : current.TrustBundle, BundleRefreshAt = _time.GetUtcNow() + _options.TrustBundleRefresh };
            _lastError = null;
            if (changed) LogTrustBundleChanged(bundle.Count);
            return true;
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
            return false;
        }
        catch (Exception e)
        {
            Failed("refresh the trust bundle", e);
            return false;
        }
    }

    private static X509Certificate2Collection Bundle(string pem)
    {
        var bundle = new X509Certificate2Collection();
        bundle.ImportFromPem(pem);
        if (bundle.Count == 0) throw new InvalidDataException("the CA sent an empty trust bundle");
        return bundle;
    }

    private void Failed(string what, Exception e)
    {
        var refused = e is RpcException { StatusCode: StatusCode.PermissionDenied or StatusCode.InvalidArgument or StatusCode.Unauthenticated };
        var reason = e switch
        {
            RpcException r when refused => $"the control plane's CA refused: {r.Status.Detail}",
            RpcException { StatusCode: StatusCode.Unavailable or StatusCode.DeadlineExceeded } r => $"the control plane at {_options.ControlPlane} is unreachable: {r.Status.Detail}",
            RpcException { StatusCode: StatusCode.Unimplemented } => $"the control plane at {_options.ControlPlane} has no certificate authority (start it with one)",
            RpcException r => $"the control plane at {_options.ControlPlane} answered {r.StatusCode}: {r.Status.Detail}",
            IOException or UnauthorizedAccessException => $"cannot read the bootstrap token: {e.Message}",
            _ => e.Message,
        };
        _lastError = reason;
        _refused = refused;
        var current = _current;
        if (current is null) LogFailedWithout(what, reason);
        else LogFailedKeeping(what, reason, current.Certificate.SerialNumber, new DateTimeOffset(current.Certificate.NotAfter.ToUniversalTime()));
    }

    // Idempotent: the container disposes it once as itself and once as IWorkloadIdentity.
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1) return;
        await _stop.CancelAsync();
        if (_loop is not null)
        {
            try
            {
                await _loop;
            }
            catch (OperationCanceledException)
            {
            }
        }
        _channel.Dispose();
        _stop.Dispose();
    }

    [LoggerMessage(EventId = Common.EventIds.WorkloadIdentity + 1, Level = LogLevel.Information, Message = "Workload certificate obtained for {SpiffeId}: serial {Serial}, expires {NotAfter:o}, renewal at {RenewAt:o}")]
    private partial void LogObtained(string spiffeId, string serial, DateTimeOffset notAfter, DateTimeOffset renewAt);

    [LoggerMessage(EventId = Common.EventIds.WorkloadIdentity + 2, Level = LogLevel.Information, Message = "Workload certificate renewed for {SpiffeId}: serial {Serial} replaces {PreviousSerial}, expires {NotAfter:o}, next renewal at {RenewAt:o}")]
    private partial void LogRenewed(string spiffeId, string serial, string previousSerial, DateTimeOffset notAfter, DateTimeOffset renewAt);

    [LoggerMessage(EventId = Common.EventIds.WorkloadIdentity + 3, Level = LogLevel.Error, Message = "Cannot {What}, and this workload has no certificate yet: {Reason}; retrying")]
    private partial void LogFailedWithout(string what, string reason);

    [LoggerMessage(EventId = Common.EventIds.WorkloadIdentity + 4, Level = LogLevel.Warning, Message = "Cannot {What}: {Reason}; keeping certificate {Serial} (expires {NotAfter:o}) and retrying")]
    private partial void LogFailedKeeping(string what, string reason, string serial, DateTimeOffset notAfter);

    [LoggerMessage(EventId = Common.EventIds.WorkloadIdentity + 5, Level = LogLevel.Information, Message = "Mesh trust bundle changed: {Count} root(s) trusted now")]
    private partial void LogTrustBundleChanged(int count);
}
