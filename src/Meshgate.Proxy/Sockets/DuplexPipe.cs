using System.IO.Pipelines;

namespace Meshgate.Proxy.Sockets;

/// <summary>A connection's transport from a reader and a writer: the epoll engine's pipes, or a filter's reader over them.</summary>
internal sealed class DuplexPipe(PipeReader input, PipeWriter output) : IDuplexPipe
{
    public PipeReader Input { get; } = input;

    public PipeWriter Output { get; } = output;
}
