using System.Globalization;
using System.Net;

namespace Meshgate.Configuration.Validation;

/// <summary>Parses the address forms the config accepts.</summary>
public static class Addressing
{
    /// <summary>host:port where host is an IP, [IPv6], localhost or *. Port 0 asks the OS for a free port.</summary>
    public static bool TryParseListenAddress(string text, out ListenAddress address)
    {
        address = default;
        var colon = text.LastIndexOf(':');
        if (colon <= 0 || !int.TryParse(text.AsSpan(colon + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var port) || port > 65535)
        {
            return false;
        }
        var host = text[..colon];
        if (host is "*" or "+")
        {
            address = new ListenAddress(IPAddress.IPv6Any, port, AnyHost: true);
            return true;
        }
        if (string.Equals(host, "localhost", StringComparison.OrdinalIgnoreCase))
        {
            address = new ListenAddress(IPAddress.Loopback, port, Localhost: true);
            return true;
        }
        if (host.StartsWith('[') && host.EndsWith(']')) host = host[1..^1];
        if (!IPAddress.TryParse(host, out var ip)) return false;
        address = new ListenAddress(ip, port);
        return true;
    }

    /// <summary>An address (one host) or CIDR.</summary>
    public static bool TryParseNetwork(string text, out IPNetwork network)
    {
        if (IPNetwork.TryParse(text, out network)) return true;
        if (IPAddress.TryParse(text, out var ip))
        {
            network = new IPNetwork(ip, ip.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork ? 32 : 128);
            return true;
        }
        return false;
    }
}

/// <param name="AnyHost">'*': every interface, IPv4 and IPv6.</param>
/// <param name="Localhost">'localhost': loopback, IPv4 and IPv6.</param>
public readonly record struct ListenAddress(IPAddress Ip, int Port, bool AnyHost = false, bool Localhost = false);
