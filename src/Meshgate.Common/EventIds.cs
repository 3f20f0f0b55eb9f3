namespace Meshgate.Common;

/// <summary>
/// Event id ranges, one per concern, so a log line's id says where it came from.
/// </summary>
public static class EventIds
{
    public const int Host = 1000;          // 1000-1099: process start, stop, listeners
    public const int Configuration = 1100; // 1100-1199: load, validate, reload
    public const int Admin = 1200;         // 1200-1299: admin API
    public const int Proxy = 1300;         // 1300-1399: forwarding and gateway-made errors
    public const int LoadBalancing = 1400; // 1400-1499
    public const int Health = 1500;        // 1500-1599: active and passive health
    public const int Authentication = 1600; // 1600-1699: JWT, API keys, signing-key fetches
    public const int Authorization = 1700; // 1700-1799: access rules
    public const int AccessLog = 1800;     // 1800-1899: the access-log writer (the lines themselves are not process-log events)
    public const int CircuitBreaking = 2300; // 2300-2399: requests refused at a cluster's limits
    public const int OutlierDetection = 2400; // 2400-2499: endpoints ejected and returned by outlier detection
    public const int Traffic = 2700;       // 2700-2799: traffic split, mirroring, fault injection
    public const int Resilience = 1900;    // 1900-1999: timeouts, retries, retry budget, hedging
    public const int RateLimiting = 2800;  // 2800-2899: rate limits and their Redis store
    public const int Caching = 2900;       // 2900-2999: the response cache and its Redis store
    public const int ControlPlane = 3000;  // 3000-3099: mesh control plane: registry, config distribution, state file
    public const int CertificateAuthority = 3100; // 3100-3199: the mesh certificate authority: signing, roots, rotation
    public const int WorkloadIdentity = 3200; // 3200-3299: the mesh workload identity: certificate requests, renewals, inbound mTLS
    public const int MeshDiscovery = 3300; // 3300-3399: mesh discovery: snapshots applied or refused, upstream mTLS to mesh instances
    public const int EtcdStore = 3400;     // 3400-3499: the control plane's etcd store: loads, outages, resyncs
    public const int AdminWrites = 3500;   // 3500-3599: admin API config writes: the audit line of every write and refused write
    public const int Sidecar = 3600;       // 3600-3699: the sidecar role: instance registration, config generated from mesh snapshots
    public const int EtcdConfig = 3700;    // 3700-3799: the gateway config in etcd: watch, outages, resyncs, rejected states
    public const int ConfigCanary = 4100;  // 4100-4199: config canaries: a node's role, decisions, canaries rolled back by deadline
    public const int Http1Forwarder = 4200; // 4200-4299: the direct HTTP/1.1 upstream path: forwarding failures, connections; 4250-4299 upstream TLS (UpstreamTlsPolicy, both forwarders): 4250 certificate refused
    public const int UpstreamPools = 4700;  // 4700-4799: the direct path's pools: destinations and TLS policies dropped after a config swap; routing cost
    public const int ControlPlaneTls = 3800; // 3800-3899: the control plane's TLS listener: serving certificate, trust bundle file, root rotation
}
