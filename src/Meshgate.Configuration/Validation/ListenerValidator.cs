using Meshgate.Configuration.Model;

namespace Meshgate.Configuration.Validation;

internal static class ListenerValidator
{
    public static void Validate(IReadOnlyList<ListenerDefinition> listeners, ValidationContext context)
    {
        ConfigValidator.CheckUniqueIds(listeners, l => l.Name, "listeners", context);
        for (var i = 0; i < listeners.Count; i++)
        {
            var listener = listeners[i];
            var path = $"listeners[{i}]";
            if (listener.Address is { } address && !Addressing.TryParseListenAddress(address, out _))
            {
                context.Error($"{path}.address", $"'{address}' is not host:port (e.g. 0.0.0.0:8080, 127.0.0.1:8443, [::]:80, localhost:8080)");
            }
            if (listener.Tls is { } tls) ValidateTls(tls, $"{path}.tls", context);
            if (listener.Protocols is { Count: 0 })
            {
                context.Error($"{path}.protocols", "must list at least one of http1, http2");
            }
            var limits = listener.Limits;
            if (limits.MaxRequestHeadersSize is { Bytes: < 1024 } h)
            {
                context.Error($"{path}.limits.maxRequestHeadersSize", $"{h} is too small to hold a request line; use at least 1KiB");
            }
            if (limits.MaxConcurrentConnections is < 1)
            {
                context.Error($"{path}.limits.maxConcurrentConnections", "must be at least 1");
            }
        }
    }

    private static void ValidateTls(ListenerTlsDefinition tls, string path, ValidationContext context)
    {
        var pem = tls.Cert is not null || tls.Key is not null;
        if (pem && tls.Pfx is not null)
        {
            context.Error(path, "give either cert and key (PEM) or pfx, not both");
            return;
        }
        if (!pem && tls.Pfx is null)
        {
            context.Error(path, "needs cert and key (PEM files) or pfx");
            return;
        }
        if (tls.ClientCertificates != ClientCertificates.None && tls.ClientCa is null)
        {
            context.Error($"{path}.clientCa", $"required with clientCertificates: {(tls.ClientCertificates == ClientCertificates.Require ? "require" : "allow")}: the CA bundle client certificates must chain to");
        }
        if (tls.ClientCertificates == ClientCertificates.None && tls.ClientCa is not null)
        {
            context.Error($"{path}.clientCa", "has no effect without clientCertificates: allow or require");
        }
        context.CheckFile($"{path}.clientCa", tls.ClientCa);
        if (pem)
        {
            if (tls.Cert is null) context.Error($"{path}.cert", "required with key");
            if (tls.Key is null) context.Error($"{path}.key", "required with cert");
            context.CheckFile($"{path}.cert", tls.Cert);
            context.CheckFile($"{path}.key", tls.Key);
        }
        else
        {
            context.CheckFile($"{path}.pfx", tls.Pfx);
            if (tls.PfxPasswordEnv is { } env && Environment.GetEnvironmentVariable(env) is null)
            {
                context.Error($"{path}.pfxPasswordEnv", $"environment variable '{env}' is not set");
            }
        }
    }
}

internal static class AdminValidator
{
    public static void Validate(AdminDefinition admin, ValidationContext context)
    {
        if (!Addressing.TryParseListenAddress(admin.Address, out _))
        {
            context.Error("admin.address", $"'{admin.Address}' is not host:port (e.g. 127.0.0.1:9901)");
        }
        var sources = new[] { admin.Token, admin.TokenEnv, admin.TokenFile }.Count(s => s is not null);
        if (sources > 1)
        {
            context.Error("admin", "give at most one of token, tokenEnv, tokenFile");
        }
        if (admin.Token is { Length: < 16 })
        {
            context.Error("admin.token", "is shorter than 16 characters; use a long random token");
        }
        if (admin.TokenEnv is { } env && string.IsNullOrWhiteSpace(Environment.GetEnvironmentVariable(env)))
        {
            context.Error("admin.tokenEnv", $"environment variable '{env}' is not set or empty");
        }
        context.CheckFile("admin.tokenFile", admin.TokenFile);
    }
}
