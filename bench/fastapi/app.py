"""The FastAPI + SQLModel backend this project replaces, rebuilt for the benchmark.

Written the way such backends are: synchronous SQLModel sessions, one `select` per request with
the user filter in the query, PyJWT HS256 tokens and bcrypt, FastAPI's `{"detail": ...}` errors.
It shares the benchmark's database (the `users` and `tasks` tables) and its token settings, so
the same accounts sign in to both. It logs in as the owner: it has no row-level security.

Environment: DATABASE_URL, JWT_SECRET, BCRYPT_COST (default 12), JWT_TTL_SECONDS (default 86400).
"""

import os
import uuid
from datetime import datetime, timedelta, timezone

import bcrypt
import jwt
from fastapi import Depends, FastAPI, HTTPException, Query, Response, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field as Check
from sqlmodel import Field, Session, SQLModel, create_engine, select

ISSUER = "todo-auth-lambda"
AUDIENCE = "todo-app"
SECRET = os.environ["JWT_SECRET"]
TTL = int(os.environ.get("JWT_TTL_SECONDS", "86400"))
COST = int(os.environ.get("BCRYPT_COST", "12"))


def now() -> datetime:
    return datetime.now(timezone.utc)


class User(SQLModel, table=True):
    __tablename__ = "users"
    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    email: str
    password_hash: str
    name: str | None = None
    created_at: datetime = Field(default_factory=now)


class Task(SQLModel, table=True):
    __tablename__ = "tasks"
    id: int | None = Field(default=None, primary_key=True)
    user_id: uuid.UUID = Field(foreign_key="users.id", index=True)
    title: str
    description: str | None = None
    completed: bool = False
    created_at: datetime = Field(default_factory=now)
    updated_at: datetime = Field(default_factory=now)


class SignUp(BaseModel):
    email: str = Check(min_length=3, max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    password: str = Check(min_length=8, max_length=72)
    name: str | None = Check(default=None, max_length=100)


class SignIn(BaseModel):
    email: str
    password: str


class TaskCreate(BaseModel):
    title: str = Check(min_length=1, max_length=200)
    description: str | None = Check(default=None, max_length=1000)
    completed: bool = False


class TaskUpdate(BaseModel):
    title: str | None = Check(default=None, min_length=1, max_length=200)
    description: str | None = Check(default=None, max_length=1000)
    completed: bool | None = None


# Neon's guide for SQLAlchemy: pre-ping pooled connections, which may have been closed.
engine = create_engine(
    os.environ["DATABASE_URL"].replace("postgres://", "postgresql+psycopg2://", 1),
    pool_pre_ping=True,
)
app = FastAPI(title="Todo API (FastAPI + SQLModel)")
bearer = HTTPBearer()


def get_session():
    with Session(engine) as session:
        yield session


def session_body(user: User) -> dict:
    token = jwt.encode(
        {
            "sub": str(user.id),
            "iat": now(),
            "exp": now() + timedelta(seconds=TTL),
            "iss": ISSUER,
            "aud": AUDIENCE,
            "jti": str(uuid.uuid4()),
        },
        SECRET,
        algorithm="HS256",
    )
    return {
        "user": {"id": str(user.id), "email": user.email, "name": user.name, "created_at": user.created_at},
        "token": token,
        "token_type": "Bearer",
        "expires_in": TTL,
    }


def current_user_id(credentials: HTTPAuthorizationCredentials = Depends(bearer)) -> uuid.UUID:
    try:
        claims = jwt.decode(
            credentials.credentials,
            SECRET,
            algorithms=["HS256"],
            audience=AUDIENCE,
            issuer=ISSUER,
            options={"require": ["exp", "sub", "iss", "aud"]},
        )
        return uuid.UUID(claims["sub"])
    except (jwt.PyJWTError, ValueError):
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "Invalid token", {"WWW-Authenticate": "Bearer"})


def owner(user_id: uuid.UUID, caller: uuid.UUID = Depends(current_user_id)) -> uuid.UUID:
    if user_id != caller:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "Not your tasks")
    return user_id


@app.post("/api/auth/signup", status_code=status.HTTP_201_CREATED)
def signup(body: SignUp, session: Session = Depends(get_session)):
    email = body.email.strip().lower()
    if session.exec(select(User).where(User.email == email)).first():
        raise HTTPException(status.HTTP_409_CONFLICT, "Email already registered")
    hashed = bcrypt.hashpw(body.password.encode(), bcrypt.gensalt(COST)).decode()
    user = User(email=email, password_hash=hashed, name=body.name)
    session.add(user)
    session.commit()
    session.refresh(user)
    return session_body(user)


@app.post("/api/auth/signin")
def signin(body: SignIn, session: Session = Depends(get_session)):
    user = session.exec(select(User).where(User.email == body.email.strip().lower())).first()
    if not user or not bcrypt.checkpw(body.password.encode(), user.password_hash.encode()):
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "Invalid email or password")
    return session_body(user)


@app.get("/api/{user_id}/tasks")
def list_tasks(
    user_id: uuid.UUID = Depends(owner),
    status_: str = Query("all", alias="status"),
    session: Session = Depends(get_session),
) -> list[Task]:
    query = select(Task).where(Task.user_id == user_id)
    if status_ == "pending":
        query = query.where(Task.completed == False)  # noqa: E712 (SQL, not Python)
    elif status_ == "completed":
        query = query.where(Task.completed == True)  # noqa: E712
    return session.exec(query.order_by(Task.created_at.desc(), Task.id.desc())).all()


@app.post("/api/{user_id}/tasks", status_code=status.HTTP_201_CREATED)
def create_task(body: TaskCreate, user_id: uuid.UUID = Depends(owner), session: Session = Depends(get_session)) -> Task:
    task = Task(user_id=user_id, **body.model_dump())
    session.add(task)
    session.commit()
    session.refresh(task)
    return task


def owned_task(session: Session, user_id: uuid.UUID, task_id: int) -> Task:
    task = session.exec(select(Task).where(Task.id == task_id, Task.user_id == user_id)).first()
    if not task:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "Task not found")
    return task


@app.get("/api/{user_id}/tasks/{task_id}")
def get_task(task_id: int, user_id: uuid.UUID = Depends(owner), session: Session = Depends(get_session)) -> Task:
    return owned_task(session, user_id, task_id)


@app.put("/api/{user_id}/tasks/{task_id}")
def update_task(
    task_id: int, body: TaskUpdate, user_id: uuid.UUID = Depends(owner), session: Session = Depends(get_session)
) -> Task:
    task = owned_task(session, user_id, task_id)
    for field, value in body.model_dump(exclude_unset=True).items():
        setattr(task, field, value)
    task.updated_at = now()
    session.add(task)
    session.commit()
    session.refresh(task)
    return task


@app.delete("/api/{user_id}/tasks/{task_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_task(task_id: int, user_id: uuid.UUID = Depends(owner), session: Session = Depends(get_session)):
    session.delete(owned_task(session, user_id, task_id))
    session.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@app.patch("/api/{user_id}/tasks/{task_id}/complete")
def toggle_task(task_id: int, user_id: uuid.UUID = Depends(owner), session: Session = Depends(get_session)) -> Task:
    task = owned_task(session, user_id, task_id)
    task.completed = not task.completed
    task.updated_at = now()
    session.add(task)
    session.commit()
    session.refresh(task)
    return task
