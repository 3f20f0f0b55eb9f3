using Grpc.Net.Client;
using Meshgate.Mesh.CertificateAuthority;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using CaClient = Meshgate.Mesh.V1.CertificateAuthority.CertificateAuthorityClient;

namespace Meshgate.Mesh.Tests.CertificateAuthority;

/// <summary>The CA's gRPC service on a real Kestrel listener (127.0.0.1, port 0, HTTP/2 cleartext) and a client for it.</summary>
internal sealed class CaServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly GrpcChannel _channel;

    private CaServer(WebApplication app, GrpcChannel channel, Uri address)
    {
        Address = address;
        _app = app;
        _channel = channel;
        Client = new CaClient(channel);
    }

    public CaClient Client { get; }

    /// <summary>The listener's address, for clients that make their own channel.</summary>
    public Uri Address { get; }
    public MeshCertificateAuthority Authority => _app.Services.GetRequiredService<MeshCertificateAuthority>();

    public static async Task<CaServer> StartAsync(CertificateAuthorityOptions options, TimeProvider? time = null)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(System.Net.IPAddress.Loopback, 0, l => l.Protocols = HttpProtocols.Http2));
        if (time is not null) builder.Services.AddSingleton(time);
        builder.Services.AddMeshCertificateAuthority(options);
        var app = builder.Build();
        app.MapMeshCertificateAuthority();
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single();
        return new CaServer(app, GrpcChannel.ForAddress(address), new Uri(address));
    }

    public async ValueTask DisposeAsync()
    {
        _channel.Dispose();
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}

/// <summary>A temporary directory deleted at the end of the test (TestKit's TempDirectory keeps its files), since these hold root keys.</summary>
internal sealed class ScratchDirectory : IDisposable
{
    public string Path { get; } = Directory.CreateTempSubdirectory("meshgate-ca-").FullName;
    public void Dispose() => Directory.Delete(Path, recursive: true);
}
