import { useState, type FormEvent, type ReactNode } from 'react';
import { hrefFor, Link, navigate } from './router';
import { appSession, useSession } from './useSession';
import { useAction } from './useAction';

/** Username rule of the API: 3-32 letters, digits or underscores. */
const USERNAME_PATTERN = '[A-Za-z0-9_]{3,32}';

/** Shared frame of the account forms: heading, error (an alert), fields, submit. */
function AuthForm(props: {
  title: string;
  submitLabel: string;
  busy: boolean;
  error: string | null;
  onSubmit: () => Promise<void>;
  children: ReactNode;
  footer: ReactNode;
}) {
  const submit = (e: FormEvent) => {
    e.preventDefault();
    void props.onSubmit();
  };
  const errorId = 'auth-form-error';
  return (
    <main className="page narrow">
      <h1 className="page-title">{props.title}</h1>
      <form className="form" onSubmit={submit} aria-describedby={props.error ? errorId : undefined}>
        {props.error !== null && (
          <p id={errorId} className="form-error" role="alert" data-testid="form-error">
            {props.error}
          </p>
        )}
        {props.children}
        <button type="submit" className="button button-primary" disabled={props.busy} aria-busy={props.busy}>
          {props.busy ? 'Please wait…' : props.submitLabel}
        </button>
      </form>
      <p className="muted">{props.footer}</p>
    </main>
  );
}

/** Shown instead of a form to someone already signed in. */
function AlreadySignedIn({ name, next }: { name: string; next: string | null }) {
  return (
    <main className="page narrow">
      <h1 className="page-title">You’re signed in</h1>
      <p>
        Signed in as <strong>{name}</strong>. <Link href={next ?? '/'}>Continue</Link>
      </p>
    </main>
  );
}

/**
 * `/signin`: username (or email) and password. On success goes to `next` (a same-origin path)
 * or home; on failure shows the API's message (wrong credentials, too many attempts…).
 */
export function SignInPage({ next }: { next: string | null }) {
  const { status, user } = useSession();
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const { busy, error, run } = useAction();

  if (status === 'signed-in' && user && !busy) return <AlreadySignedIn name={user.displayName} next={next} />;

  const onSubmit = () => run(async () => {
    await appSession().signIn(username.trim(), password);
    navigate(next ?? '/');
  }, () => setPassword(''));

  return (
    <AuthForm
      title="Sign in"
      submitLabel="Sign in"
      busy={busy}
      error={error}
      onSubmit={onSubmit}
      footer={
        <>
          New here? <Link href={hrefFor({ name: 'signup', next })}>Create an account</Link>
        </>
      }
    >
      <div className="field">
        <label htmlFor="signin-username">Username or email</label>
        <input id="signin-username" name="username" autoComplete="username" required maxLength={254} value={username} onChange={(e) => setUsername(e.target.value)} />
      </div>
      <div className="field">
        <label htmlFor="signin-password">Password</label>
        <input id="signin-password" name="password" type="password" autoComplete="current-password" required value={password} onChange={(e) => setPassword(e.target.value)} />
      </div>
    </AuthForm>
  );
}

/**
 * `/signup`: username, email, optional display name, password. Creates the account, signs in
 * and goes to `next` or home; shows the API's message on failure (name or email taken…).
 */
export function SignUpPage({ next }: { next: string | null }) {
  const { status, user } = useSession();
  const [username, setUsername] = useState('');
  const [email, setEmail] = useState('');
  const [displayName, setDisplayName] = useState('');
  const [password, setPassword] = useState('');
  const { busy, error, run } = useAction();

  if (status === 'signed-in' && user && !busy) return <AlreadySignedIn name={user.displayName} next={next} />;

  const onSubmit = () => run(async () => {
    const name = displayName.trim();
    await appSession().register({ username: username.trim(), email: email.trim(), password, ...(name !== '' ? { displayName: name } : {}) });
    navigate(next ?? '/');
  });

  return (
    <AuthForm
      title="Create your account"
      submitLabel="Create account"
      busy={busy}
      error={error}
      onSubmit={onSubmit}
      footer={
        <>
          Already have an account? <Link href={hrefFor({ name: 'signin', next })}>Sign in</Link>
        </>
      }
    >
      <div className="field">
        <label htmlFor="signup-username">Username</label>
        <input
          id="signup-username"
          name="username"
          autoComplete="username"
          required
          pattern={USERNAME_PATTERN}
          maxLength={32}
          aria-describedby="username-hint"
          value={username}
          onChange={(e) => setUsername(e.target.value)}
        />
        <small id="username-hint" className="muted">
          3–32 letters, digits or underscores. Your channel address will use it.
        </small>
      </div>
      <div className="field">
        <label htmlFor="signup-email">Email</label>
        <input id="signup-email" name="email" type="email" autoComplete="email" required maxLength={254} value={email} onChange={(e) => setEmail(e.target.value)} />
      </div>
      <div className="field">
        <label htmlFor="signup-display-name">
          Display name <span className="muted">(optional)</span>
        </label>
        <input id="signup-display-name" name="displayName" autoComplete="nickname" maxLength={50} value={displayName} onChange={(e) => setDisplayName(e.target.value)} />
      </div>
      <div className="field">
        <label htmlFor="signup-password">Password</label>
        <input
          id="signup-password"
          name="password"
          type="password"
          autoComplete="new-password"
          required
          minLength={8}
          maxLength={128}
          aria-describedby="password-hint"
          value={password}
          onChange={(e) => setPassword(e.target.value)}
        />
        <small id="password-hint" className="muted">
          At least 8 characters.
        </small>
      </div>
    </AuthForm>
  );
}
