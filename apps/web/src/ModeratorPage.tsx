import { ChatModerationPanel } from './ChatModerationPanel';
import { ModerationQueue } from './ModerationQueue';
import { hrefFor, Link } from './router';
import { useSession } from './useSession';

/**
 * `/moderate/<channelId>`: a channel's chat moderation tools for its appointed moderators (the
 * owner has them on the dashboard): the moderation queue, bans and timeouts, banned terms, the
 * moderators and the log. Appointing is the owner's (or an admin's); the API refuses anyone
 * who may not moderate the room, and the panels show its answer.
 */
export function ModeratorPage({ channelId }: { channelId: string }) {
  const { status, user } = useSession();
  const here = hrefFor({ name: 'moderate', channelId });
  if (status === 'restoring') return <main className="page narrow muted">Loading…</main>;
  if (!user) {
    return (
      <main className="page narrow">
        <h1 className="page-title">Moderate {channelId}</h1>
        <p>
          <Link href={hrefFor({ name: 'signin', next: here })}>Sign in</Link> to moderate this chat.
        </p>
      </main>
    );
  }
  return (
    <main className="page narrow">
      <h1 className="page-title">Moderate {channelId}</h1>
      <p>
        <Link href={hrefFor({ name: 'live', channelId })}>Back to the channel</Link>
      </p>
      <ModerationQueue channelId={channelId} />
      <ChatModerationPanel channelId={channelId} canAppoint={user.channelId === channelId || user.roles.includes('admin')} />
    </main>
  );
}
