using System.CommandLine;
using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;

namespace Meshgate.Commands;

/// <summary>
/// What `meshgate status` and `meshgate top` share: the --admin and --token options and a client that
/// turns every way of failing to read the admin API into one sentence saying what to do.
/// </summary>
internal sealed class AdminClient : IDisposable
{
    /// <summary>Read when --token is not given, so the token can stay out of shell history.</summary>
    public const string TokenVariable = "MESHGATE_ADMIN_TOKEN";
    public const int UsageExitCode = 2;
    public const int FailedExitCode = 1;
    private static readonly TimeSpan RequestTimeout = TimeSpan.FromSeconds(5);

    private readonly HttpClient _http;

    private AdminClient(Uri baseAddress, string? token)
    {
        BaseAddress = baseAddress;
        _http = new HttpClient { BaseAddress = baseAddress, Timeout = RequestTimeout };
        if (token is not null) _http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        HasToken = token is not null;
    }

    public Uri BaseAddress { get; }

    private bool HasToken { get; }

    public static Option<string> AdminOption() => new("--admin")
    {
        Description = "The admin API's URL, e.g. http://127.0.0.1:9901 (the admin.address of the gateway's config).",
        Required = true,
    };

    public static Option<string?> TokenOption() => new("--token")
    {
        Description = $"The admin token (admin.token in the config), sent as a bearer header. Default: the {TokenVariable} environment variable.",
    };

    /// <summary>The client, or null after printing why the URL is unusable.</summary>
    public static AdminClient? Create(string url, string? token, TextWriter error)
    {
        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps) || string.IsNullOrEmpty(uri.Host))
        {
            error.WriteLine($"bad --admin URL '{url}': give the admin listener's address with its scheme, e.g. http://127.0.0.1:9901");
            return null;
        }
        var path = uri.AbsolutePath.EndsWith('/') ? uri.AbsolutePath : uri.AbsolutePath + "/";
        token ??= Environment.GetEnvironmentVariable(TokenVariable);
        return new AdminClient(new UriBuilder(uri) { Path = path, Query = "" }.Uri, string.IsNullOrEmpty(token) ? null : token);
    }

    /// <summary>GETs an admin path (relative, e.g. "admin/stats") as JSON.</summary>
    /// <exception cref="AdminException">With a message for the user.</exception>
    public async Task<JsonElement> GetAsync(string path, CancellationToken cancellationToken)
    {
        var url = new Uri(BaseAddress, path);
        HttpResponseMessage response;
        try
        {
            response = await _http.GetAsync(url, cancellationToken);
        }
        catch (HttpRequestException e)
        {
            throw new AdminException($"cannot reach the admin API at {BaseAddress}: {e.Message}");
        }
        catch (TaskCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new AdminException($"the admin API at {BaseAddress} did not answer within {RequestTimeout.TotalSeconds:0}s");
        }
        using (response)
        {
            if (response.StatusCode == HttpStatusCode.Unauthorized)
            {
                throw new AdminException(HasToken
                    ? $"the admin API at {BaseAddress} refused the token (401): check --token or {TokenVariable} against admin.token in the config"
                    : $"the admin API at {BaseAddress} needs a token (401): pass --token TOKEN or set {TokenVariable}");
            }
            if (!response.IsSuccessStatusCode)
            {
                throw new AdminException($"the admin API at {BaseAddress} answered {(int)response.StatusCode} {response.ReasonPhrase} to GET /{path}: is this a Meshgate admin listener?");
            }
            try
            {
                using var document = await JsonDocument.ParseAsync(await response.Content.ReadAsStreamAsync(cancellationToken), cancellationToken: cancellationToken);
                return document.RootElement.Clone();
            }
            catch (JsonException)
            {
                throw new AdminException($"the admin API at {BaseAddress} answered GET /{path} with something that is not JSON: is this a Meshgate admin listener?");
            }
        }
    }

    public void Dispose() => _http.Dispose();
}

/// <summary>A failure to read the admin API, with a message meant for the user as it is.</summary>
internal sealed class AdminException(string message) : Exception(message);
